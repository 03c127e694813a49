/**
 * Atomic file replacement: write a temporary file next to the target, flush it to
 * disk, then rename it over the target. Readers see either the old file or the
 * complete new one, never a partial write.
 */

import { randomBytes } from "node:crypto";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import path from "node:path";

/** Largest single write, below the 2 GiB limit of one fs write call. */
const MAX_WRITE_BYTES = 1 << 30;

/** Writes all of `bytes` at the handle's current position. */
export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const chunk = Math.min(MAX_WRITE_BYTES, bytes.length - done);
    const { bytesWritten } = await handle.write(bytes, done, chunk);
    done += bytesWritten;
  }
}

/**
 * Replaces `target` atomically with what `writeContents` writes to a temporary file in
 * the same directory (a rename is only atomic within one file system). The temporary
 * file is removed when writing fails.
 */
export async function writeFileAtomic(target: string, writeContents: (handle: FileHandle) => Promise<void>): Promise<void> {
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporary, "wx");
  let renamed = false;
  try {
    await writeContents(handle);
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
}

/** Replaces `target` atomically with `text` encoded as UTF-8. */
export async function writeTextFileAtomic(target: string, text: string): Promise<void> {
  await writeFileAtomic(target, (handle) => writeAll(handle, new TextEncoder().encode(text)));
}
