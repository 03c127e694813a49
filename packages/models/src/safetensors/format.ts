/**
 * The safetensors layout and its header codec.
 *
 * A file is an 8-byte little-endian unsigned header length N, then N bytes of UTF-8
 * JSON, then the data section. The JSON maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }`, with byte offsets relative to the
 * start of the data section, plus an optional `__metadata__` object of string values.
 * The header may end in spaces (0x20), and the tensors must cover the data section
 * exactly, with no gap, no overlap and no trailing bytes. Data is little-endian and
 * row-major.
 */

import { DTYPE_BYTES, type DType, type Shape, formatShape } from "@lcc/tensor";

import { ModelLoadError } from "../errors.js";

/** safetensors dtype name → lcc dtype, for every dtype lcc can store. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = Object.freeze({
  F64: "float64",
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I64: "int64",
  I32: "int32",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
});

/** Key of the optional string → string metadata object in the header. */
export const METADATA_KEY = "__metadata__";

/**
 * Largest header accepted, in bytes: the limit of the reference implementation
 * (safetensors 0.8.0 rejects a 100,000,001-byte header).
 */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * True on little-endian hosts. safetensors data is little-endian and typed arrays use the
 * host byte order, so reading and writing reject big-endian hosts.
 * TODO: byte-swap multi-byte dtypes instead.
 */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes before the JSON header: its length as a little-endian uint64. */
export const HEADER_LENGTH_BYTES = 8;

/** One tensor's entry in a safetensors header. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
  /** Byte offsets in the data section, end exclusive. */
  readonly begin: number;
  readonly end: number;
}

/** A parsed and checked safetensors header. */
export interface SafetensorsHeader {
  /** Entries sorted by `begin`, which is also the order of the data on disk. */
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute file offset of the data section: 8 + header length. */
  readonly dataStart: number;
}

/** Returns the safetensors name of an lcc dtype, or throws for one the format lacks. */
export function safetensorsDTypeName(dtype: DType): string {
  for (const [name, candidate] of Object.entries(SAFETENSORS_DTYPES)) {
    if (candidate === dtype) return name;
  }
  throw new ModelLoadError(`dtype ${dtype} has no safetensors equivalent; supported: ${Object.values(SAFETENSORS_DTYPES).join(", ")}`);
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/** At most this many problems are spelled out in one error message. */
const MAX_LISTED_PROBLEMS = 20;

/** Builds the error for a file with problems, listing up to MAX_LISTED_PROBLEMS of them. */
export function invalidFileError(path: string, problems: readonly string[], cause?: unknown): ModelLoadError {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map((problem) => `  - ${problem}`);
  if (problems.length > MAX_LISTED_PROBLEMS) listed.push(`  - and ${problems.length - MAX_LISTED_PROBLEMS} more`);
  const noun = problems.length === 1 ? "problem" : "problems";
  return new ModelLoadError(
    `invalid safetensors file ${path} (${problems.length} ${noun}):\n${listed.join("\n")}\n` +
      "hint: the file is damaged, truncated or not a safetensors file; download or convert it again",
    { cause, details: { path, problems: [...problems] } },
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isByteOffset(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Checks one tensor entry, adding a line to `problems` for each fault. */
function parseEntry(name: string, value: unknown, problems: string[]): SafetensorsEntry | null {
  const where = `tensor "${name}"`;
  if (!isPlainObject(value)) {
    problems.push(`${where}: entry must be an object with dtype, shape and data_offsets, found ${JSON.stringify(value)}`);
    return null;
  }
  const before = problems.length;

  const dtypeName = value.dtype;
  const dtype = typeof dtypeName === "string" && Object.hasOwn(SAFETENSORS_DTYPES, dtypeName) ? SAFETENSORS_DTYPES[dtypeName] : undefined;
  if (dtype === undefined) {
    problems.push(`${where}: unsupported dtype ${JSON.stringify(dtypeName)}; supported: ${Object.keys(SAFETENSORS_DTYPES).join(", ")}`);
  }

  const shape = value.shape;
  const shapeValid = Array.isArray(shape) && shape.every((dim) => Number.isSafeInteger(dim) && (dim as number) >= 0);
  if (!shapeValid) {
    problems.push(`${where}: shape must be a list of non-negative integers, found ${JSON.stringify(shape)}`);
  }

  const offsets = value.data_offsets;
  const offsetsValid = Array.isArray(offsets) && offsets.length === 2 && isByteOffset(offsets[0]) && isByteOffset(offsets[1]) && offsets[0] <= offsets[1];
  if (!offsetsValid) {
    problems.push(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end, found ${JSON.stringify(offsets)}`);
  }

  // NOTE: other fields are ignored, as the reference implementation does.
  if (problems.length > before || dtype === undefined) return null;

  // The byte length must be exactly elements × element size.
  const dims = shape as number[];
  const [begin, end] = offsets as [number, number];
  let elements = 1;
  for (const dim of dims) elements *= dim;
  const expectedBytes = elements * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(expectedBytes)) {
    problems.push(`${where}: shape ${formatShape(dims)} is too large to address`);
    return null;
  }
  if (end - begin !== expectedBytes) {
    problems.push(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtypeName} shape ${formatShape(dims)} needs ${expectedBytes}`,
    );
    return null;
  }
  return { name, dtype, shape: Object.freeze([...dims]), begin, end };
}

function parseMetadata(value: unknown, problems: string[]): Record<string, string> {
  if (!isPlainObject(value)) {
    problems.push(`${METADATA_KEY} must be an object of strings, found ${JSON.stringify(value)}`);
    return {};
  }
  const pairs: [string, string][] = [];
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === "string") pairs.push([key, entry]);
    else problems.push(`${METADATA_KEY}["${key}"] must be a string, found ${JSON.stringify(entry)}`);
  }
  // Object.fromEntries defines own properties, so a "__proto__" key stays plain data.
  return Object.fromEntries(pairs);
}

/**
 * Parses the JSON header of a safetensors file and checks every entry against the
 * data section, which contains `dataBytes` bytes. Throws one ModelLoadError listing all
 * problems found.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, path: string, dataBytes: number): SafetensorsHeader {
  // Step 1: decode the JSON object.
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch (error) {
    throw invalidFileError(path, ["header is not valid UTF-8"], error);
  }
  if (!text.startsWith("{")) {
    throw invalidFileError(path, [`header must start with "{", found ${JSON.stringify(text.slice(0, 16))}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalidFileError(path, [`header is not valid JSON: ${(error as Error).message}`], error);
  }
  if (!isPlainObject(json)) throw invalidFileError(path, ["header must be a JSON object"]);

  // Step 2: check each entry on its own.
  const problems: string[] = [];
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value, problems);
      continue;
    }
    const entry = parseEntry(name, value, problems);
    if (entry !== null) entries.push(entry);
  }

  // Step 3: the byte ranges must tile the data section: sorted by begin, each starts
  // where the previous one ended, and the last ends at the end of the file.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: SafetensorsEntry | null = null;
  for (const entry of entries) {
    if (entry.end > dataBytes) {
      problems.push(
        `tensor "${entry.name}": data_offsets [${entry.begin}, ${entry.end}] lie beyond the ${dataBytes}-byte data section (file truncated?)`,
      );
    }
    if (previous !== null && entry.begin < cursor) {
      problems.push(
        `tensor "${entry.name}": data_offsets [${entry.begin}, ${entry.end}] overlap tensor "${previous.name}" [${previous.begin}, ${previous.end}]`,
      );
    } else if (entry.begin > cursor) {
      problems.push(`bytes [${cursor}, ${entry.begin}) of the data section belong to no tensor (a gap before tensor "${entry.name}")`);
    }
    if (entry.end >= cursor) {
      cursor = entry.end;
      previous = entry;
    }
  }
  if (cursor < dataBytes) {
    problems.push(`the data section has ${dataBytes} bytes but the tensors end at byte ${cursor}; the remaining bytes belong to no tensor`);
  }

  if (problems.length > 0) throw invalidFileError(path, problems);
  return { entries, metadata, dataStart: HEADER_LENGTH_BYTES + headerBytes.length };
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/** A tensor's place in a file about to be written. */
export interface PlannedEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
  readonly byteLength: number;
}

/**
 * Encodes a header for `entries`, laid out back to back in the given order, padded with
 * spaces so the data section starts at a multiple of 8 bytes. Returns the header bytes,
 * without the 8-byte length prefix.
 */
export function encodeSafetensorsHeader(entries: readonly PlannedEntry[], metadata: Readonly<Record<string, string>> | undefined): Uint8Array {
  // A null prototype keeps a tensor named "__proto__" an ordinary key.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined && Object.keys(metadata).length > 0) header[METADATA_KEY] = { ...metadata };
  let offset = 0;
  for (const entry of entries) {
    header[entry.name] = {
      dtype: safetensorsDTypeName(entry.dtype),
      shape: [...entry.shape],
      data_offsets: [offset, offset + entry.byteLength],
    };
    offset += entry.byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const paddedLength = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(paddedLength).fill(0x20);
  bytes.set(json);
  return bytes;
}
