/**
 * The in-memory form of a compiled memory and the constants of the file format.
 *
 * Legend: L context tokens, K buffer tokens, Hkv key/value heads, Dh head width.
 */

import type { Tensor } from "@lcc/tensor";

/** Element types a memory file can store its keys and values in. */
export type StorageDType = "float32" | "float16" | "bfloat16" | "int8";

export const STORAGE_DTYPES: readonly StorageDType[] = Object.freeze(["float32", "float16", "bfloat16", "int8"]);

export interface FormatVersion {
  readonly major: number; // 1
  readonly minor: number; // 0
}

/** The format version this package writes. It reads every 1.x version. */
export const MEMORY_FORMAT_VERSION: FormatVersion = Object.freeze({ major: 1, minor: 0 });

/** Suggested file name extension of memory files. */
export const MEMORY_FILE_EXTENSION = ".lccm";

/**
 * Upper bounds a memory must respect. They keep a forged header from making a reader
 * allocate gigabytes or overflow size arithmetic, and they sit well above real models
 * (Llama-3.1-405B has 126 layers, 8 key/value heads and a head width of 128).
 */
export const MEMORY_LIMITS = Object.freeze({
  maxLayers: 1024,
  maxKvHeads: 1024,
  maxHeadDim: 4096,
  /** 2^20 buffer tokens, which is a 16M-token context at ratio 16. */
  maxBufferTokens: 1_048_576,
  /** The largest uint32, the type of every token count in the file. */
  maxSourceTokens: 4_294_967_295,
  /** A file must be smaller than 4 GiB, because protobuf lengths are read as uint32. */
  maxFileBytes: 4_294_967_295,
});

/** The software that wrote a memory. */
export interface Producer {
  readonly name: string; // "lcc"
  readonly version: string; // "0.1.0"
}

/** Identity and key/value shape of the base model a memory was compiled for. */
export interface ModelFingerprint {
  /** Readable name, used in messages only, e.g. "stories260K". */
  readonly name: string;
  readonly architecture: string; // "llama"
  /** Lowercase hexadecimal sha256 digests (64 characters). */
  readonly configSha256: string;
  readonly weightsSha256: string;
  readonly tokenizerSha256: string;
  readonly numLayers: number; // 5
  readonly numKvHeads: number; // Hkv, 4
  readonly headDim: number; // Dh, 8
}

/**
 * The model a decoder expects. Every field that is present is compared with the file's
 * fingerprint, except `name`, which only labels the model in error messages.
 */
export type ExpectedModel = Partial<ModelFingerprint>;

/** Half-open token ranges of one independently compiled part of the context. */
export interface Segment {
  readonly sourceStart: number; // 0
  readonly sourceEnd: number; // 2048
  readonly bufferStart: number; // 0
  readonly bufferEnd: number; // 128
}

export interface Compression {
  readonly sourceTokens: number; // L, 2048
  readonly bufferTokens: number; // K, 128
  /** Requested compression ratio r, at least 1. */
  readonly ratio: number; // 16
  /** Consecutive segments covering [0, L) and [0, K) in order. */
  readonly segments: readonly Segment[];
}

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** The record of the compile run that produced a memory. */
export interface Provenance {
  /** Compile options, stored as JSON text. Numbers must be finite. */
  readonly options: Readonly<Record<string, JsonValue>>;
  readonly steps: number; // 100
  /** Loss values at the last step, by name, e.g. { kl: 0.42 }. */
  readonly finalLosses: Readonly<Record<string, number>>;
  readonly wallTimeSeconds: number; // 12.5
}

/** Keys and values of one layer, float32 of shape [K, Hkv, Dh] each, keys with RoPE applied. */
export interface MemoryLayer {
  readonly keys: Tensor<"float32">;
  readonly values: Tensor<"float32">;
}

/** A compiled memory. */
export interface Memory {
  readonly producer: Producer;
  readonly fingerprint: ModelFingerprint;
  readonly compression: Compression;
  /** Position of each buffer token, K non-negative integers. */
  readonly positions: readonly number[];
  /** One entry per model layer, in layer order. */
  readonly layers: readonly MemoryLayer[];
  readonly provenance: Provenance;
  /** Lowercase hexadecimal sha256 of the context's UTF-8 bytes. */
  readonly sourceSha256: string;
  /** The context itself. Written to a file only with `includeSourceText`. */
  readonly sourceText?: string;
  /** Creation time in RFC 3339 form, UTC, e.g. "2026-12-04T09:30:00.000Z". */
  readonly createdAt: string;
}

/** A memory read from a file, with what the file stored it as. */
export interface DecodedMemory extends Memory {
  readonly formatVersion: FormatVersion;
  /** The stored dtype of every key and value tensor, or "mixed" when they differ. */
  readonly storedDType: StorageDType | "mixed";
  /** Lowercase hexadecimal sha256 at the end of the file. */
  readonly checksum: string;
}

export interface EncodeOptions {
  /** Storage dtype of keys and values. float16 halves the size of float32 and int8 quarters it. */
  readonly dtype: StorageDType;
  /** Write `memory.sourceText` into the file. Default false. */
  readonly includeSourceText?: boolean;
}

export interface DecodeOptions {
  /** Reject the memory unless its fingerprint matches this model. */
  readonly expect?: ExpectedModel;
}
