/**
 * Reading safetensors files.
 *
 * The header is read and checked first, then each tensor's bytes are read straight
 * into the typed array that the returned Tensor keeps, so a file's data is held in
 * memory once.
 */

import { type FileHandle, open } from "node:fs/promises";

import { type DType, Tensor, type TypedArrayFor, allocate, shapeSize } from "@lcc/tensor";

import { ModelLoadError } from "../errors.js";
import {
  HEADER_LENGTH_BYTES,
  HOST_IS_LITTLE_ENDIAN,
  MAX_HEADER_BYTES,
  type SafetensorsEntry,
  type SafetensorsHeader,
  invalidFileError,
  parseSafetensorsHeader,
} from "./format.js";

/** The tensors and `__metadata__` strings of one safetensors file. */
export interface SafetensorsContents {
  /** Tensors in the order of their data in the file. */
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Largest single read, below the 2 GiB limit of one fs read call. */
const MAX_READ_BYTES = 1 << 30;

/** Opens `path` for reading, turning a missing or unreadable file into a ModelLoadError. */
async function openForReading(path: string, fileKind: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    let reason = `cannot be opened (${code ?? String(error)})`;
    if (code === "ENOENT") reason = "not found";
    if (code === "EISDIR") reason = "is a directory";
    throw new ModelLoadError(`${fileKind} ${path} ${reason}`, { cause: error, details: { path } });
  }
}

/** Reads `target.length` bytes at `position` into `target`, failing on a short read. */
async function readExactly(handle: FileHandle, path: string, target: Uint8Array, position: number, part: string): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const chunk = Math.min(MAX_READ_BYTES, target.length - done);
    const { bytesRead } = await handle.read(target, done, chunk, position + done);
    if (bytesRead === 0) {
      throw invalidFileError(path, [`${part}: the file ended after ${position + done} bytes, ${target.length - done} bytes short (truncated while reading?)`]);
    }
    done += bytesRead;
  }
}

/** Reads and checks the header of an open safetensors file. */
async function readHeader(handle: FileHandle, path: string): Promise<SafetensorsHeader> {
  // Step 1: the 8-byte little-endian header length must fit in the file.
  const fileBytes = (await handle.stat()).size;
  if (fileBytes < HEADER_LENGTH_BYTES) {
    throw invalidFileError(path, [`the file has ${fileBytes} bytes, fewer than the ${HEADER_LENGTH_BYTES}-byte header length`]);
  }
  const prefix = new Uint8Array(HEADER_LENGTH_BYTES);
  await readExactly(handle, path, prefix, 0, "header length");
  const headerLength = new DataView(prefix.buffer).getBigUint64(0, true);
  const available = fileBytes - HEADER_LENGTH_BYTES;
  if (headerLength > BigInt(available)) {
    throw invalidFileError(path, [`header length ${headerLength} exceeds the ${available} bytes that follow it in the ${fileBytes}-byte file`]);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw invalidFileError(path, [`header length ${headerLength} exceeds the limit of ${MAX_HEADER_BYTES} bytes`]);
  }
  if (headerLength < 2n) {
    throw invalidFileError(path, [`header length ${headerLength} is too short for a JSON object`]);
  }

  // Step 2: the JSON header and its entries.
  const headerBytes = new Uint8Array(Number(headerLength));
  await readExactly(handle, path, headerBytes, HEADER_LENGTH_BYTES, "header");
  return parseSafetensorsHeader(headerBytes, path, available - headerBytes.length);
}

/** Reads one tensor's bytes into a freshly allocated array of its dtype. */
async function readTensor(handle: FileHandle, path: string, header: SafetensorsHeader, entry: SafetensorsEntry): Promise<Tensor> {
  const data = allocate(entry.dtype, shapeSize(entry.shape)) as TypedArrayFor<DType>;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  await readExactly(handle, path, bytes, header.dataStart + entry.begin, `tensor "${entry.name}"`);
  if (entry.dtype === "bool") {
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 0 && bytes[i] !== 1) {
        throw invalidFileError(path, [`tensor "${entry.name}": BOOL element ${i} has byte value ${bytes[i]}; only 0 and 1 are valid`]);
      }
    }
  }
  return new Tensor(entry.dtype, entry.shape, data);
}

/**
 * Reads and checks only the header of a safetensors file: tensor names, dtypes, shapes,
 * byte ranges and metadata.
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const handle = await openForReading(path, "safetensors file");
  try {
    return await readHeader(handle, path);
  } finally {
    await handle.close();
  }
}

/** Reads every tensor of a safetensors file together with its `__metadata__` strings. */
export async function readSafetensorsWithMetadata(path: string): Promise<SafetensorsContents> {
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new ModelLoadError(`cannot read ${path}: safetensors data is little-endian and this host is big-endian`, { details: { path } });
  }
  const handle = await openForReading(path, "safetensors file");
  try {
    const header = await readHeader(handle, path);
    const tensors = new Map<string, Tensor>();
    for (const entry of header.entries) {
      tensors.set(entry.name, await readTensor(handle, path, header, entry));
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await handle.close();
  }
}

/** Reads every tensor of a safetensors file, keeping each in its file dtype. */
export async function readSafetensors(path: string): Promise<Map<string, Tensor>> {
  return (await readSafetensorsWithMetadata(path)).tensors;
}
