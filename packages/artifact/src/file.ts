/**
 * Reading and writing memory files. A write replaces the target atomically. The bytes go
 * to a temporary file in the same folder, which is flushed to disk and then renamed over
 * the target. A reader therefore sees the old file or the complete new one, never a part.
 */

import { randomBytes } from "node:crypto";
import { type FileHandle, open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { decodeMemory } from "./decode.js";
import { encodeChunks, planEncoding } from "./encode.js";
import { MemoryFileError } from "./errors.js";
import type { DecodeOptions, DecodedMemory, EncodeOptions, Memory } from "./types.js";

/** Largest single write call, below the 2 GiB limit of one fs write. */
const MAX_WRITE_BYTES = 1 << 30;

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, Math.min(MAX_WRITE_BYTES, bytes.length - written));
    written += bytesWritten;
  }
}

/** Flushes the folder entry of a rename to disk. Some platforms cannot open folders, which is harmless there. */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, "r");
    await handle.sync();
  } catch {
    // NOTE: Windows rejects opening a folder, and its rename is durable without this.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function ioError(action: string, file: string, error: unknown): MemoryFileError {
  const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
  let hint = "hint: check the path and the disk";
  if (code === "ENOENT") hint = action === "read" ? "hint: check the path" : "hint: check the path; the folder must exist";
  else if (code === "EACCES" || code === "EPERM") hint = "hint: check the file's permissions";
  else if (code === "ENOSPC") hint = "hint: free disk space";
  // Node's messages start with the code ("ENOENT: no such file…"), so it is not repeated.
  const message = (error as Error).message;
  const reason = message.startsWith(`${code}:`) ? message : `${code}: ${message}`;
  return new MemoryFileError(`cannot ${action} memory file ${file} (${reason})\n${hint}`, {
    cause: error,
    details: { path: file, code },
  });
}

/**
 * Encodes `memory` like encodeMemory and writes it to `file` atomically. The whole file
 * is never held in memory: tensors are converted and written one at a time. Throws
 * InvalidArgumentError for an invalid memory or options and MemoryFileError when the
 * file cannot be written, in which case `file` is unchanged.
 */
export async function writeMemoryFile(file: string, memory: Memory, options: EncodeOptions): Promise<void> {
  const plan = planEncoding(memory, options);
  const folder = path.dirname(path.resolve(file));
  const temporary = path.join(folder, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);

  let handle: FileHandle;
  try {
    handle = await open(temporary, "wx");
  } catch (error) {
    throw ioError("write", file, error);
  }

  let renamed = false;
  try {
    for (const chunk of encodeChunks(plan)) await writeAll(handle, chunk);
    await handle.sync();
    await handle.close();
    await rename(temporary, file);
    renamed = true;
  } catch (error) {
    if (error instanceof Error && "code" in error) throw ioError("write", file, error);
    throw error;
  } finally {
    if (!renamed) {
      await handle.close().catch(() => undefined);
      await unlink(temporary).catch(() => undefined);
    }
  }
  await syncFolder(folder);
}

/** Reads and decodes the memory file `file`; see decodeMemory for the checks and errors. */
export async function readMemoryFile(file: string, options: DecodeOptions = {}): Promise<DecodedMemory> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw ioError("read", file, error);
  }
  return decodeMemory(bytes, options);
}
