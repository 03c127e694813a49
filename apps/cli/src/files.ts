/**
 * Input and output file checks shared by the commands, run before any long work starts.
 */

import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { FileFormatError } from "@lcc/tensor";
import { UsageError } from "./options.js";

/** Reads a UTF-8 text file, or stdin for "-", and rejects bytes that are not UTF-8. */
export async function readTextInput(input: string): Promise<string> {
  let bytes: Buffer;
  if (input === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    bytes = Buffer.concat(chunks);
  } else {
    bytes = await readFile(input);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new FileFormatError(`${input === "-" ? "stdin" : input} is not valid UTF-8 text; convert it to UTF-8 first (for example with iconv)`);
  }
}

/**
 * Checks that `file` can be written: not "-", not a folder, and inside an existing folder.
 * Runs before a compile or an evaluation so that a typo does not cost the whole run.
 */
export async function checkOutputFile(file: string, option: string): Promise<void> {
  if (file === "-") throw new UsageError(`${option} - is not supported; give a file path`);
  const existing = await stat(file).catch(() => null);
  if (existing?.isDirectory()) throw new UsageError(`${option} ${file} is a folder; give a file path`);
  const folder = path.dirname(path.resolve(file));
  const parent = await stat(folder).catch(() => null);
  if (parent === null || !parent.isDirectory()) throw new UsageError(`${option} ${file}: the folder ${folder} does not exist; create it first`);
}

/** Checks that `folder` is a folder or can be created (its nearest existing ancestor is a folder). */
export async function checkOutputFolder(folder: string, option: string): Promise<void> {
  let current = path.resolve(folder);
  for (;;) {
    const existing = await stat(current).catch(() => null);
    if (existing !== null) {
      if (!existing.isDirectory()) throw new UsageError(`${option} ${folder}: ${current} is a file, not a folder`);
      return;
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}
