/**
 * The manifest of a downloaded model: `lcc-manifest.json` in the model's cache folder,
 * written as "incomplete" when a pull starts and as "complete" once every file passed
 * its checks. Only a complete manifest makes the folder count as a cached model.
 */

import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { writeTextFileAtomic } from "../safetensors/atomic-write.js";
import type { Verification } from "./download.js";
import { modelCacheDir } from "./reference.js";

export const MANIFEST_FILE = "lcc-manifest.json";
export const MANIFEST_VERSION = 1;

export interface ManifestFile {
  /** Name inside the model folder, e.g. "model.safetensors". */
  readonly path: string;
  /** Path inside the hub repository. */
  readonly remotePath: string;
  readonly size: number; // bytes
  readonly sha256: string;
  readonly verifiedBy: Verification;
}

export interface ModelManifest {
  readonly version: number; // 1
  /** Reference the model was pulled as: "stories260K" or "owner/name[@revision]". */
  readonly name: string;
  readonly status: "complete" | "incomplete";
  readonly hubUrl: string;
  readonly repo: string;
  readonly revision: string;
  /** Commit the hub resolved the revision to, when it said so. */
  readonly commit: string | null;
  readonly updatedAt: string;
  readonly files: readonly ManifestFile[];
}

export async function writeManifest(folder: string, manifest: ModelManifest): Promise<void> {
  await writeTextFileAtomic(path.join(folder, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Reads a folder's manifest; returns null when there is none or it is not a version-1 manifest. */
export async function readManifest(folder: string): Promise<ModelManifest | null> {
  let text: string;
  try {
    text = await readFile(path.join(folder, MANIFEST_FILE), "utf8");
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ModelManifest>;
    if (parsed.version !== MANIFEST_VERSION || typeof parsed.name !== "string" || !Array.isArray(parsed.files)) return null;
    return parsed as ModelManifest;
  } catch {
    return null;
  }
}

export interface CachedModel {
  readonly name: string;
  readonly path: string;
  readonly complete: boolean;
  readonly bytes: number;
  readonly manifest: ModelManifest;
}

/**
 * Lists the models in the cache (`<cacheDir>/models`), complete or not, sorted by name.
 * Known models sit in `<name>/`, hub ids in `<owner>/<name>[@revision]/`.
 */
export async function listCachedModels(options: { cacheDir?: string } = {}): Promise<CachedModel[]> {
  const root = modelCacheDir(options.cacheDir);
  const found: CachedModel[] = [];
  const subfolders = async (folder: string): Promise<string[]> => {
    try {
      const entries = await readdir(folder, { withFileTypes: true });
      return entries.filter((entry) => entry.isDirectory()).map((entry) => path.join(folder, entry.name));
    } catch {
      return [];
    }
  };
  const add = async (folder: string): Promise<boolean> => {
    const manifest = await readManifest(folder);
    if (manifest === null) return false;
    const bytes = manifest.files.reduce((sum, file) => sum + file.size, 0);
    found.push({ name: manifest.name, path: folder, complete: manifest.status === "complete", bytes, manifest });
    return true;
  };

  for (const folder of await subfolders(root)) {
    if (await add(folder)) continue;
    for (const inner of await subfolders(folder)) await add(inner);
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}
