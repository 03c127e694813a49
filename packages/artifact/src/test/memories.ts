/**
 * Test helpers: synthetic memories from a seeded generator, and framing of hand-made
 * MemoryFile messages with a valid checksum, to build forged files.
 */

import { createHash } from "node:crypto";
import { Tensor } from "@lcc/tensor";
import { CHECKSUM_TRAILER_BYTES, FRAME_HEADER_BYTES, MAGIC, memoryTypes } from "../proto.js";
import type { Memory } from "../types.js";
import { sha256Hex } from "../validate.js";

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values by the Box-Muller transform. */
export function normalValues(random: () => number, count: number, scale: number): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = 1 - random();
    const v = random();
    values[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return values;
}

export interface MemoryShape {
  readonly layers: number;
  readonly bufferTokens: number; // K
  readonly kvHeads: number; // Hkv
  readonly headDim: number; // Dh
}

export const SMALL_SHAPE: MemoryShape = { layers: 2, bufferTokens: 3, kvHeads: 2, headDim: 4 };

export const SOURCE_TEXT = "Once upon a time, a little fox named Pip found a red key under the old oak tree.";

/** Builds a valid memory with normal keys and values (standard deviation 2) from `seed`. */
export function makeMemory(shape: MemoryShape = SMALL_SHAPE, seed = 1): Memory {
  const random = seededRandom(seed);
  const { layers, bufferTokens: K, kvHeads: Hkv, headDim: Dh } = shape;
  const sourceTokens = K * 16;
  return {
    producer: { name: "lcc", version: "0.1.0" },
    fingerprint: {
      name: "stories260K",
      architecture: "llama",
      configSha256: sha256Hex("config"),
      weightsSha256: sha256Hex("weights"),
      tokenizerSha256: sha256Hex("tokenizer"),
      numLayers: layers,
      numKvHeads: Hkv,
      headDim: Dh,
    },
    compression: {
      sourceTokens,
      bufferTokens: K,
      ratio: 16,
      segments: [{ sourceStart: 0, sourceEnd: sourceTokens, bufferStart: 0, bufferEnd: K }],
    },
    positions: Array.from({ length: K }, (_, k) => sourceTokens + k),
    layers: Array.from({ length: layers }, () => ({
      keys: new Tensor("float32", [K, Hkv, Dh], normalValues(random, K * Hkv * Dh, 2)),
      values: new Tensor("float32", [K, Hkv, Dh], normalValues(random, K * Hkv * Dh, 2)),
    })),
    provenance: {
      options: { ratio: 16, rank: 8, alpha: 16, targets: ["q", "k", "v", "o"], learningRate: 0.01, earlyStop: null },
      steps: 100,
      finalLosses: { kl: 0.4213, reconstruction: 1.25 },
      wallTimeSeconds: 12.5,
    },
    sourceSha256: sha256Hex(SOURCE_TEXT),
    sourceText: SOURCE_TEXT,
    createdAt: "2026-12-04T09:30:00.000Z",
  };
}

/**
 * A protobufjs message as the forging tests edit it. protobufjs types decoded messages
 * loosely, and the tests assign values of any type to provoke decoder errors.
 */
// biome-ignore lint/suspicious/noExplicitAny: forged messages take values of any type on purpose.
export type RawMessage = Record<string, any>;

/** Parses the MemoryFile message of a file with protobufjs. Its tensor bytes are views of `file`. */
export function rawMessage(file: Uint8Array): RawMessage {
  return memoryTypes().MemoryFile.decode(file.subarray(FRAME_HEADER_BYTES, file.length - CHECKSUM_TRAILER_BYTES)) as unknown as RawMessage;
}

/** Returns a copy of `file` whose checksum trailer matches its other bytes. */
export function withValidChecksum(file: Uint8Array): Uint8Array {
  const copy = new Uint8Array(file);
  if (copy.length < CHECKSUM_TRAILER_BYTES) return copy;
  const trailerStart = copy.length - CHECKSUM_TRAILER_BYTES;
  copy[trailerStart] = 0x7a;
  copy[trailerStart + 1] = 32;
  copy.set(createHash("sha256").update(copy.subarray(0, trailerStart)).digest(), trailerStart + 2);
  return copy;
}

/** Frames protobuf message bytes as a memory file: magic, version bytes, message, checksum trailer. */
export function frameBytes(messageBytes: Uint8Array, major = 1, minor = 0): Uint8Array {
  const file = new Uint8Array(FRAME_HEADER_BYTES + messageBytes.length + CHECKSUM_TRAILER_BYTES);
  file.set(MAGIC, 0);
  file[6] = major;
  file[7] = minor;
  file.set(messageBytes, FRAME_HEADER_BYTES);
  return withValidChecksum(file);
}

/** Encodes a MemoryFile message object with protobufjs and frames it as a memory file. */
export function frameMessage(message: Record<string, unknown>, major = 1, minor = 0): Uint8Array {
  return frameBytes(memoryTypes().MemoryFile.encode(message).finish(), major, minor);
}

/** Float32 bit patterns of `values`, to compare values bit for bit (signed zeros included). */
export function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}
