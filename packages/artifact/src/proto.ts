/**
 * protobufjs types for the messages in memory.proto, parsed once on first use, and the
 * constants of the file framing.
 */

import protobuf from "protobufjs";
import { MEMORY_PROTO_SOURCE } from "./schema.js";
import type { StorageDType } from "./types.js";

export interface MemoryTypes {
  MemoryFile: protobuf.Type;
  KvTensor: protobuf.Type;
}

let cached: MemoryTypes | undefined;

export function memoryTypes(): MemoryTypes {
  if (cached === undefined) {
    const root = protobuf.parse(MEMORY_PROTO_SOURCE, { keepCase: true }).root;
    cached = {
      MemoryFile: root.lookupType("lcc.memory.v1.MemoryFile"),
      KvTensor: root.lookupType("lcc.memory.v1.KvTensor"),
    };
  }
  return cached;
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

/** "LCCMEM", the first 6 bytes of every memory file. Bytes 6 and 7 are the major and minor version. */
export const MAGIC = Object.freeze([0x4c, 0x43, 0x43, 0x4d, 0x45, 0x4d]);

export const FRAME_HEADER_BYTES = 8;

/** The checksum field ends the file: its tag, its length (32) and the sha256 digest. */
export const CHECKSUM_TRAILER_BYTES = 34;

// Tags (field number << 3 | wire type 2) of the length-delimited fields the encoder
// writes by hand so that tensor data goes straight to the output.
export const TAG_MEMORY_FILE_LAYERS = (10 << 3) | 2;
export const TAG_MEMORY_FILE_CHECKSUM = (15 << 3) | 2;
export const TAG_LAYER_KEYS = (1 << 3) | 2;
export const TAG_LAYER_VALUES = (2 << 3) | 2;
export const TAG_KV_TENSOR_ALIGNMENT = (4 << 3) | 2;
export const TAG_KV_TENSOR_DATA = (5 << 3) | 2;

/** Alignment of tensor data from the start of the file, enough for float32 views. */
export const DATA_ALIGNMENT = 4;

// ---------------------------------------------------------------------------
// DType enum
// ---------------------------------------------------------------------------

export const DTYPE_CODES: Readonly<Record<StorageDType, number>> = Object.freeze({
  float32: 1,
  float16: 2,
  bfloat16: 3,
  int8: 4,
});

export const BYTES_PER_ELEMENT: Readonly<Record<StorageDType, number>> = Object.freeze({
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int8: 1,
});

export function dtypeFromCode(code: number): StorageDType | undefined {
  for (const [dtype, dtypeCode] of Object.entries(DTYPE_CODES)) {
    if (dtypeCode === code) return dtype as StorageDType;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Varints, for the fields written by hand
// ---------------------------------------------------------------------------

/** Bytes of the protobuf varint encoding of the non-negative safe integer `value`. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

/** Writes `value` as a varint at `offset` and returns the offset after it. */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    target[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  target[offset++] = value;
  return offset;
}

// ---------------------------------------------------------------------------
// Decoded messages. protobufjs fills absent scalars with their defaults, absent
// messages with null, and int64 fields with Long objects.
// ---------------------------------------------------------------------------

export interface LongLike {
  toNumber(): number;
}

export interface RawKvTensor {
  dtype: number;
  shape: number[];
  scales: Uint8Array;
  alignment: Uint8Array;
  data: Uint8Array;
}

export interface RawMemoryFile {
  format_version: { major: number; minor: number } | null;
  producer: { name: string; version: string } | null;
  model: {
    name: string;
    architecture: string;
    config_sha256: string;
    weights_sha256: string;
    tokenizer_sha256: string;
    num_layers: number;
    num_kv_heads: number;
    head_dim: number;
  } | null;
  compression: {
    source_tokens: number;
    buffer_tokens: number;
    ratio: number;
    segments: { source_start: number; source_end: number; buffer_start: number; buffer_end: number }[];
  } | null;
  positions: (number | LongLike)[];
  provenance: {
    options_json: string;
    steps: number;
    final_losses: { name: string; value: number }[];
    wall_time_seconds: number;
  } | null;
  source: { sha256: string; text?: string | null } | null;
  created_at: string;
  layers: { keys: RawKvTensor | null; values: RawKvTensor | null }[];
  checksum: Uint8Array;
}
