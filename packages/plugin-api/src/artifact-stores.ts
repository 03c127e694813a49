/**
 * Artifact stores: where memory files (or other artifacts) are kept, by key. The
 * built-in "directory" store keeps each artifact as one file in a folder; plugins add
 * others (an object store, a database) under their own names.
 */

import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rename, rm, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { InvalidArgumentError } from "@lcc/tensor";

/** One store of artifacts by key. Keys match ARTIFACT_KEY. */
export interface ArtifactStore {
  /** Stores `bytes` under `key`, replacing what was there. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Returns the bytes stored under `key`, or null when there are none. */
  get(key: string): Promise<Uint8Array | null>;
  /** Returns every key, sorted. */
  list(): Promise<string[]>;
  /** Removes `key`; returns whether it existed. */
  delete(key: string): Promise<boolean>;
}

/** Opens a store at a location whose meaning the store defines (a folder, a bucket URL). */
export type ArtifactStoreFactory = (location: string) => ArtifactStore | Promise<ArtifactStore>;

/** A letter or digit, then letters, digits, '.', '_' and '-', at most 200 characters, e.g. "story-1.lccm". */
export const ARTIFACT_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Throws InvalidArgumentError unless `key` matches ARTIFACT_KEY. */
export function checkArtifactKey(key: string): void {
  if (typeof key !== "string" || !ARTIFACT_KEY.test(key)) {
    throw new InvalidArgumentError(
      `invalid artifact key ${JSON.stringify(key)}; a key starts with a letter or digit and contains only letters, digits, '.', '_' and '-' (at most 200 characters)`,
      { details: { key } },
    );
  }
}

/** Returns whether `value` has the four store methods. */
export function isArtifactStore(value: unknown): value is ArtifactStore {
  if (typeof value !== "object" || value === null) return false;
  const store = value as Record<string, unknown>;
  return ["put", "get", "list", "delete"].every((method) => typeof store[method] === "function");
}

// ---------------------------------------------------------------------------
// The built-in directory store
// ---------------------------------------------------------------------------

/**
 * Returns a store that keeps each artifact as `<folder>/<key>`. The folder is created on
 * the first put. A put writes a temporary file beside the target and renames it, so a
 * reader sees the old bytes or the new ones, never a part.
 */
export function createDirectoryStore(folder: string): ArtifactStore {
  if (typeof folder !== "string" || folder.length === 0)
    throw new InvalidArgumentError(`the directory store needs a folder path, got ${JSON.stringify(folder)}`);
  const root = path.resolve(folder);
  return {
    async put(key, bytes) {
      checkArtifactKey(key);
      if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`put expects the artifact as a Uint8Array, got ${typeof bytes}`);
      await mkdir(root, { recursive: true });
      const temporary = path.join(root, `.${key}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
      try {
        await writeFile(temporary, bytes, { flag: "wx" });
        await rename(temporary, path.join(root, key));
      } catch (error) {
        await unlink(temporary).catch(() => undefined);
        throw error;
      }
    },
    async get(key) {
      checkArtifactKey(key);
      try {
        return new Uint8Array(await readFile(path.join(root, key)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw error;
      }
    },
    async list() {
      try {
        const entries = await readdir(root, { withFileTypes: true });
        return entries
          .filter((entry) => entry.isFile() && ARTIFACT_KEY.test(entry.name))
          .map((entry) => entry.name)
          .sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw error;
      }
    },
    async delete(key) {
      checkArtifactKey(key);
      try {
        await rm(path.join(root, key));
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
        throw error;
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

/** Lowercase words of letters and digits joined by single hyphens, e.g. "directory" or "s3". */
const STORE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

const stores = new Map<string, ArtifactStore | ArtifactStoreFactory>([["directory", createDirectoryStore]]);

/**
 * Adds an artifact store under `name`: a ready store object, or a factory that opens a
 * store at a location. The name "directory" is the built-in folder store.
 */
export function registerArtifactStore(name: string, store: ArtifactStore | ArtifactStoreFactory): void {
  if (typeof name !== "string" || !STORE_NAME.test(name)) {
    throw new InvalidArgumentError(
      `an artifact store name must be lowercase words of letters and digits joined by '-' (e.g. "s3"), got ${JSON.stringify(name)}`,
    );
  }
  if (typeof store !== "function" && !isArtifactStore(store)) {
    throw new InvalidArgumentError(
      `artifact store "${name}" must be a factory function or an object with put, get, list and delete methods`,
      { details: { name } },
    );
  }
  if (stores.has(name)) {
    const kind = name === "directory" ? "the built-in" : "a registered";
    throw new InvalidArgumentError(`artifact store "${name}" is already ${kind} store; choose another name`, { details: { name } });
  }
  stores.set(name, store);
}

export function hasArtifactStore(name: string): boolean {
  return stores.has(name);
}

/** Names of every store: "directory", then the registered ones in registration order. */
export function listArtifactStores(): string[] {
  return [...stores.keys()];
}

/**
 * Opens the store registered as `name`. A factory store receives `location`, which it
 * requires; a store registered as an object takes no location.
 */
export async function openArtifactStore(name: string, location?: string): Promise<ArtifactStore> {
  const entry = stores.get(name);
  if (entry === undefined) {
    throw new InvalidArgumentError(
      `unknown artifact store ${JSON.stringify(name)}; known stores: ${listArtifactStores().join(", ")}. Load the plugin that adds it`,
      {
        details: { name },
      },
    );
  }
  if (typeof entry !== "function") {
    if (location !== undefined)
      throw new InvalidArgumentError(`artifact store "${name}" takes no location, got ${JSON.stringify(location)}`);
    return entry;
  }
  if (typeof location !== "string" || location.length === 0) {
    throw new InvalidArgumentError(`artifact store "${name}" needs a location (for "directory", a folder path)`, { details: { name } });
  }
  const store = await entry(location);
  if (!isArtifactStore(store)) {
    throw new InvalidArgumentError(`the factory of artifact store "${name}" returned no object with put, get, list and delete methods`, {
      details: { name },
    });
  }
  return store;
}
