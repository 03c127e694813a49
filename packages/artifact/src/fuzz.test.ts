import { LccError } from "@lcc/tensor";
import { describe, expect, it } from "vitest";

import { decodeMemory } from "./decode.js";
import { encodeMemory } from "./encode.js";
import { FRAME_HEADER_BYTES, MAGIC } from "./proto.js";
import { type RawMessage, frameBytes, frameMessage, makeMemory, rawMessage, seededRandom, withValidChecksum } from "./test/memories.js";
import { STORAGE_DTYPES } from "./types.js";
import { validateMemory } from "./validate.js";

const CASES = 2000;
/**
 * Per-case time limit: a small file decodes in well under a millisecond, so this only
 * catches hangs and runaway loops. It is generous because CI machines run other test
 * files at the same time.
 */
const MAX_CASE_MS = 2000;

type Random = () => number;

function randomInt(random: Random, below: number): number {
  return Math.floor(random() * below);
}

function randomBytes(random: Random, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => randomInt(random, 256));
}

/** Applies 1 to 8 random byte-level edits: bit flips, overwrites, inserts, deletes, truncation, duplication. */
function mutate(random: Random, source: Uint8Array): Uint8Array {
  let bytes = Array.from(source);
  const edits = 1 + randomInt(random, 8);
  for (let e = 0; e < edits && bytes.length > 0; e++) {
    const at = randomInt(random, bytes.length);
    switch (randomInt(random, 7)) {
      case 0:
        bytes[at] = bytes[at]! ^ (1 << randomInt(random, 8));
        break;
      case 1:
        bytes[at] = randomInt(random, 256);
        break;
      case 2:
        bytes[at] = random() < 0.5 ? 0 : 0xff;
        break;
      case 3:
        bytes.splice(at, 0, randomInt(random, 256));
        break;
      case 4:
        bytes.splice(at, 1);
        break;
      case 5:
        bytes = bytes.slice(0, at);
        break;
      case 6: {
        const length = randomInt(random, 64);
        bytes.splice(at, 0, ...bytes.slice(at, at + length));
        break;
      }
    }
  }
  return Uint8Array.from(bytes);
}

const INTERESTING = [0, 1, 2, 3, 4, 5, 9, 127, 128, 255, 65_535, 1_048_576, 1_048_577, 2 ** 31 - 1, 2 ** 32 - 1, 1e9];

/** Sets one header or tensor field of a decoded message to an edge value. */
function mutateField(random: Random, message: RawMessage): void {
  const value = INTERESTING[randomInt(random, INTERESTING.length)]!;
  const layer = message.layers[randomInt(random, message.layers.length)];
  const tensor = random() < 0.5 ? layer.keys : layer.values;
  const edits = [
    () => (message.model.num_layers = value),
    () => (message.model.num_kv_heads = value),
    () => (message.model.head_dim = value),
    () => (message.compression.buffer_tokens = value),
    () => (message.compression.source_tokens = value),
    () => (message.compression.ratio = random() < 0.5 ? value : Number.NaN),
    () => (message.compression.segments[0].buffer_end = value),
    () => (message.positions[randomInt(random, message.positions.length)] = random() < 0.5 ? value : -value),
    () => (tensor.shape[randomInt(random, 3)] = value),
    () => (tensor.dtype = value),
    () => (tensor.data = tensor.data.subarray(0, randomInt(random, tensor.data.length + 1))),
    () => (tensor.scales = randomBytes(random, randomInt(random, 3) * 16)),
    () => message.layers.splice(randomInt(random, message.layers.length), 1),
    () => (message.provenance.steps = value),
    () => (message.provenance.options_json = String.fromCharCode(...randomBytes(random, 8))),
  ];
  edits[randomInt(random, edits.length)]!();
}

describe("decodeMemory fuzzing", () => {
  it(`${CASES} random and mutated inputs`, () => {
    const random = seededRandom(20261204);
    const memory = makeMemory({ layers: 2, bufferTokens: 4, kvHeads: 2, headDim: 3 }, 11);
    const files = STORAGE_DTYPES.map((dtype) => encodeMemory(memory, { dtype, includeSourceText: random() < 0.5 }));
    const outcomes = new Map<string, number>();
    let slowest = 0;

    for (let i = 0; i < CASES; i++) {
      const base = files[i % files.length]!;
      let input: Uint8Array;
      let kind: string;
      switch (i % 5) {
        case 0:
          kind = "random bytes";
          input = randomBytes(random, randomInt(random, 600));
          break;
        case 1: {
          kind = "random body";
          const body = randomBytes(random, randomInt(random, 400));
          input = frameBytes(body);
          break;
        }
        case 2:
          kind = "mutated";
          input = mutate(random, base);
          break;
        case 3:
          kind = "mutated, valid checksum";
          input = withValidChecksum(mutate(random, base));
          break;
        default: {
          kind = "forged field";
          const message = rawMessage(base);
          mutateField(random, message);
          input = frameMessage(message);
        }
      }

      // Every other input is a Buffer, whose small allocations share a pool at unaligned offsets.
      if (i % 2 === 1) input = Buffer.from(input);

      const start = performance.now();
      let outcome: string;
      try {
        const decoded = decodeMemory(input);
        // Whatever decodes must be a valid memory.
        validateMemory(decoded);
        outcome = "decoded";
      } catch (error) {
        expect(LccError.isInstance(error), `case ${i} (${kind}): ${String(error)}`).toBe(true);
        outcome = (error as Error).name;
      }
      const elapsed = performance.now() - start;
      slowest = Math.max(slowest, elapsed);
      expect(elapsed, `case ${i} (${kind})`).toBeLessThan(MAX_CASE_MS);
      outcomes.set(`${kind}: ${outcome}`, (outcomes.get(`${kind}: ${outcome}`) ?? 0) + 1);
    }

    // Every kind of input reaches the check it is meant to reach.
    expect(outcomes.get("random bytes: MemoryFormatError")).toBe(CASES / 5);
    expect(outcomes.get("random body: MemoryFormatError")).toBe(CASES / 5);
    expect(outcomes.get("mutated: MemoryChecksumError")).toBeGreaterThan(CASES / 10);
    expect(outcomes.get("mutated, valid checksum: MemoryFormatError")).toBeGreaterThan(CASES / 20);
    expect(outcomes.get("forged field: MemoryFormatError")).toBeGreaterThan(CASES / 10);
    expect(slowest).toBeLessThan(MAX_CASE_MS);
  });

  it("random bodies behind a valid frame", () => {
    // Bodies made of valid protobuf tags with random lengths reach the parser's bounds checks.
    const random = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      const body: number[] = [];
      while (body.length < 64)
        body.push((randomInt(random, 16) << 3) | randomInt(random, 6), randomInt(random, 256), randomInt(random, 256));
      const input = frameBytes(Uint8Array.from(body));
      expect(Array.from(input.subarray(0, 6))).toEqual(MAGIC);
      expect(input.length).toBe(FRAME_HEADER_BYTES + body.length + 34);
      try {
        decodeMemory(input);
      } catch (error) {
        expect(LccError.isInstance(error), String(error)).toBe(true);
      }
    }
  });
});
