/**
 * Turns a plugin specifier into the file to import.
 *
 * - A path (starting with "./", "../", "/", a drive letter, or "file:") is resolved
 *   against `from`. A folder is read as a package: its package.json names the entry.
 * - Anything else is a package name, optionally with a subpath ("pkg" or "@scope/pkg/sub").
 *   It is looked up in `node_modules` folders from `from` upwards, as Node does, and its
 *   entry comes from the package's `exports` (conditions "import", "node", "default"),
 *   else `main`, else index.js.
 *
 * NOTE: NODE_PATH and global install folders are not searched; pass a path for a plugin
 * installed there.
 */

import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PluginNotFoundError } from "./errors.js";

const CONDITIONS = ["import", "node", "default"];
/** An npm package name, scoped or not, then an optional subpath. */
const PACKAGE_SPECIFIER = /^((?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*)(\/.+)?$/i;

async function kind(target: string): Promise<"file" | "directory" | null> {
  try {
    const info = await stat(target);
    return info.isDirectory() ? "directory" : info.isFile() ? "file" : null;
  } catch {
    return null;
  }
}

export function isPathSpecifier(specifier: string): boolean {
  return (
    /^\.{1,2}([\\/]|$)/.test(specifier) || path.isAbsolute(specifier) || /^[A-Za-z]:[\\/]/.test(specifier) || specifier.startsWith("file:")
  );
}

/** Picks a target from an `exports` value by the import conditions, or null. */
function conditionalTarget(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    for (const entry of value) {
      const target = conditionalTarget(entry);
      if (target !== null) return target;
    }
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  for (const [condition, target] of Object.entries(value)) {
    if (!CONDITIONS.includes(condition)) continue;
    const resolved = conditionalTarget(target);
    if (resolved !== null) return resolved;
  }
  return null;
}

/** Returns the entry file of the package in `folder` for `subpath` ("." or "./sub"), or null when it exports none. */
async function packageEntry(folder: string, subpath: string): Promise<string | null> {
  let manifest: Record<string, unknown> = {};
  try {
    manifest = JSON.parse(await readFile(path.join(folder, "package.json"), "utf8")) as Record<string, unknown>;
  } catch {
    // A folder without a readable package.json falls back to index.js below.
  }
  const exportsField = manifest.exports;
  if (exportsField !== undefined && exportsField !== null) {
    const keys = typeof exportsField === "object" && !Array.isArray(exportsField) ? Object.keys(exportsField) : [];
    const isSubpathMap = keys.length > 0 && keys.every((key) => key.startsWith("."));
    const value = isSubpathMap ? (exportsField as Record<string, unknown>)[subpath] : subpath === "." ? exportsField : undefined;
    const target = conditionalTarget(value);
    return target === null ? null : path.join(folder, target);
  }
  if (subpath !== ".") return path.join(folder, subpath);
  return path.join(folder, typeof manifest.main === "string" ? manifest.main : "index.js");
}

/** Resolves `specifier` from the folder `from` to an existing file, or throws PluginNotFoundError. */
export async function resolvePluginFile(specifier: string, from: string): Promise<string> {
  // Paths: a file, or a package folder.
  if (isPathSpecifier(specifier)) {
    const target = specifier.startsWith("file:") ? fileURLToPath(specifier) : path.resolve(from, specifier);
    const found = await kind(target);
    if (found === "file") return target;
    if (found === "directory") {
      const entry = await packageEntry(target, ".");
      if (entry !== null && (await kind(entry)) === "file") return entry;
      throw new PluginNotFoundError(
        `plugin folder ${target} has no entry file; give it a package.json with "exports" or "main", or pass the module file itself`,
        {
          details: { specifier, path: target },
        },
      );
    }
    throw new PluginNotFoundError(
      `plugin file not found: ${target} (${JSON.stringify(specifier)} resolved against ${from}); check the path`,
      {
        details: { specifier, path: target },
      },
    );
  }

  // Package names: node_modules folders from `from` upwards.
  const match = PACKAGE_SPECIFIER.exec(specifier);
  if (match === null) {
    throw new PluginNotFoundError(
      `${JSON.stringify(specifier)} is neither a path nor a package name; write a path as ./plugin.js or a package as name or @scope/name`,
      {
        details: { specifier },
      },
    );
  }
  const packageName = match[1] as string;
  const subpath = match[2] === undefined ? "." : `.${match[2]}`;
  for (let folder = path.resolve(from); ; folder = path.dirname(folder)) {
    const candidate = path.join(folder, "node_modules", packageName);
    if ((await kind(candidate)) === "directory") {
      const entry = await packageEntry(candidate, subpath);
      if (entry !== null && (await kind(entry)) === "file") return entry;
      throw new PluginNotFoundError(
        `plugin package "${packageName}" in ${candidate} exports no module for ${JSON.stringify(subpath)} under the conditions ${CONDITIONS.join(", ")}`,
        {
          details: { specifier, path: candidate },
        },
      );
    }
    if (path.dirname(folder) === folder) break;
  }
  throw new PluginNotFoundError(
    `plugin package "${packageName}" was not found in any node_modules folder from ${path.resolve(from)} upwards; install it in your project (npm install ${packageName}) or pass the plugin's path`,
    { details: { specifier, from: path.resolve(from) } },
  );
}
