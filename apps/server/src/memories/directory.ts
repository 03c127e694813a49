/**
 * The memory folder: one file `<id>.lccm` per memory, named by its id (a sha256 digest).
 * A file is written to a temporary name in the same folder, flushed to disk and renamed
 * over its final name, so a reader (or a restart after a crash) finds either no file or
 * the complete one.
 */

import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { MEMORY_ID_PATTERN } from "../ids.js";

const MEMORY_FILE = /^([0-9a-f]{64})\.lccm$/;
/** Temporary files of interrupted writes: `.<id>.lccm.<random>.tmp`. */
const TEMPORARY_FILE = /^\.[0-9a-f]{64}\.lccm\.[0-9a-f]{12}\.tmp$/;

export class MemoryDirectory {
  private constructor(readonly folder: string) {}

  /** Creates the folder when missing and deletes temporary files left by interrupted writes. */
  static async open(folder: string): Promise<MemoryDirectory> {
    const absolute = path.resolve(folder);
    await mkdir(absolute, { recursive: true });
    for (const name of await readdir(absolute)) {
      if (TEMPORARY_FILE.test(name)) await unlink(path.join(absolute, name)).catch(() => undefined);
    }
    return new MemoryDirectory(absolute);
  }

  /** Returns the path of a memory's file. `id` must be a memory id, which keeps the path inside the folder. */
  fileOf(id: string): string {
    if (!MEMORY_ID_PATTERN.test(id)) throw new Error(`internal error: ${JSON.stringify(id)} is not a memory id`);
    return path.join(this.folder, `${id}.lccm`);
  }

  /** Returns the ids of the memory files in the folder, in name order; other files are ignored. */
  async ids(): Promise<string[]> {
    const names = await readdir(this.folder);
    return names
      .map((name) => MEMORY_FILE.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .sort();
  }

  /** Names of files in the folder that are neither memory files nor temporary files. */
  async otherFiles(): Promise<string[]> {
    const names = await readdir(this.folder);
    return names.filter((name) => !MEMORY_FILE.test(name) && !TEMPORARY_FILE.test(name)).sort();
  }

  /** Writes `bytes` as the file of memory `id`, atomically, replacing any file of that id. */
  async write(id: string, bytes: Uint8Array): Promise<string> {
    const target = this.fileOf(id);
    const temporary = path.join(this.folder, `.${id}.lccm.${randomBytes(6).toString("hex")}.tmp`);
    const handle = await open(temporary, "wx");
    let renamed = false;
    try {
      await handle.writeFile(bytes);
      await handle.sync();
      await handle.close();
      await rename(temporary, target);
      renamed = true;
    } finally {
      if (!renamed) {
        await handle.close().catch(() => undefined);
        await unlink(temporary).catch(() => undefined);
      }
    }
    await syncFolder(this.folder);
    return target;
  }

  /** Deletes the file of memory `id`; returns false when there was none. */
  async remove(id: string): Promise<boolean> {
    try {
      await unlink(this.fileOf(id));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }
}

/** Flushes the folder entry of a rename to disk. */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, "r");
    await handle.sync();
  } catch {
    // NOTE: Windows cannot open a folder; its rename is durable without this step.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
