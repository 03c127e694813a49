import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { renderCliReference } from "./cli-reference.js";

const REFERENCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../docs/cli.md");

it("docs/cli.md matches the command definitions", async () => {
  const committed = await readFile(REFERENCE, "utf8");
  // Regenerate with: node apps/cli/dist/cli-reference.js > docs/cli.md
  expect(committed).toBe(renderCliReference());
});
