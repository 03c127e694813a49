/**
 * Locates read-only test fixtures (models, data, reference cases) in the shared folder
 * beside the repository, or in the folder named by LCC_SHARED.
 */

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root: this file is tools/test-fixtures/index.js. */
const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Returns the absolute path of a shared fixture, and throws if it does not exist. */
export function sharedPath(...parts) {
  const root = process.env.LCC_SHARED ?? resolve(REPOSITORY_ROOT, "../shared");
  const path = join(root, ...parts);
  if (!existsSync(path)) {
    throw new Error(`test fixture not found: ${path}; set LCC_SHARED to the folder that contains models/, data/ and cases/`);
  }
  return path;
}
