import { InvalidArgumentError, LccError } from "@lcc/tensor";
import { describe, expect, it } from "vitest";

import { decodeMemory } from "./decode.js";
import { encodeMemory } from "./encode.js";
import { MemoryChecksumError, MemoryFormatError, MemoryModelMismatchError, MemoryVersionError } from "./errors.js";
import { memoryTypes } from "./proto.js";
import { type RawMessage, bitsOf, frameBytes, frameMessage, makeMemory, rawMessage, withValidChecksum } from "./test/memories.js";
import type { DecodeOptions } from "./types.js";
import { sha256Hex } from "./validate.js";

/** Runs decodeMemory and returns what it threw; fails the test when it returns. */
function decodeError(bytes: Uint8Array, options?: DecodeOptions): Error {
  try {
    decodeMemory(bytes, options);
  } catch (error) {
    return error as Error;
  }
  throw new Error("decodeMemory accepted the input");
}

const memory = makeMemory();
const file = encodeMemory(memory, { dtype: "float16" });

/** Builds a file with a valid checksum from the message of `source` after `change` edits it. */
function forged(change: (message: RawMessage) => void, source: Uint8Array = file): Uint8Array {
  const message = rawMessage(source);
  change(message);
  return frameMessage(message);
}

describe("decodeMemory framing", () => {
  it("rejects other file types", () => {
    for (const bytes of [
      new Uint8Array(0),
      new TextEncoder().encode("hello"),
      new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
    ]) {
      const error = decodeError(bytes);
      expect(error).toBeInstanceOf(MemoryFormatError);
      expect(error.name).toBe("MemoryFormatError");
      expect(error.message).toMatch(/^not an lcc memory file: it must start with the bytes "LCCMEM"/);
      expect(error.message).toMatch(/\nhint: check the path/);
    }
    expect(decodeError(new Uint8Array([0x89, 0x50, 0x4e, 0x47])).message).toMatch(/starts with \[89 50 4e 47\] \(4 bytes in all\)/);
  });

  it("rejects a newer major version", () => {
    const newer = file.slice();
    newer[6] = 2;
    newer[7] = 5;
    const error = decodeError(newer);
    expect(error).toBeInstanceOf(MemoryVersionError);
    expect(error.name).toBe("MemoryVersionError");
    expect(error.message).toMatch(/format version 2\.5, which is newer than the versions this lcc reads \(1\.x\)\nhint: upgrade lcc/);
  });

  it("rejects major version 0", () => {
    const older = withValidChecksum(Object.assign(file.slice(), { 6: 0 }));
    const error = decodeError(older);
    expect(error).toBeInstanceOf(MemoryVersionError);
    expect(error.message).toMatch(/format version 0\.0 but version 1\.0 is the first released format/);
  });

  it("reads a newer minor version with unknown fields", () => {
    const message = rawMessage(file);
    message.format_version = { major: 1, minor: 3 };
    const known = frameMessage(message, 1, 3);
    // Unknown fields of a later 1.x: field 9 (a string) and field 12 (a varint), inserted before the trailer.
    const unknown = new Uint8Array([(9 << 3) | 2, 3, 0x61, 0x62, 0x63, (12 << 3) | 0, 0x96, 0x01]);
    const body = known.subarray(8, known.length - 34);
    const extended = frameBytes(new Uint8Array([...body, ...unknown]), 1, 3);
    const decoded = decodeMemory(extended);
    expect(decoded.formatVersion).toEqual({ major: 1, minor: 3 });
    expect(bitsOf(decoded.layers[1]!.values.data)).toEqual(bitsOf(decodeMemory(file).layers[1]!.values.data));
  });

  it("rejects a version field that disagrees with the frame", () => {
    const error = decodeError(withValidChecksum(Object.assign(file.slice(), { 7: 1 })));
    expect(error.name).toBe("MemoryFormatError");
    expect(error.message).toMatch(/format_version field is 1\.0 but its bytes 6 and 7 say 1\.1; they must agree/);
  });

  it("rejects a checksum mismatch", () => {
    const changed = file.slice();
    changed[100] = changed[100]! ^ 0x10;
    const error = decodeError(changed);
    expect(error).toBeInstanceOf(MemoryChecksumError);
    expect(error.name).toBe("MemoryChecksumError");
    expect(error.message).toMatch(
      /checksum does not match its content: the file stores sha256 [0-9a-f]{64} but its bytes hash to [0-9a-f]{64}\nhint: the file is corrupted or truncated/,
    );
  });

  it("rejects every truncation", () => {
    for (let length = 0; length < file.length; length++) {
      const error = decodeError(file.subarray(0, length));
      expect(error, `length ${length}`).toBeInstanceOf(MemoryFormatError);
      if (length >= 8) {
        expect(error.name, `length ${length}`).toBe("MemoryChecksumError");
        expect(error.message, `length ${length}`).toMatch(/hint: the file is corrupted or truncated/);
      }
    }
  });

  it("rejects every flipped byte", () => {
    for (let i = 0; i < file.length; i++) {
      const flipped = file.slice();
      flipped[i] = flipped[i]! ^ (1 << (i % 8));
      const error = decodeError(flipped);
      const expected = i < 6 ? "MemoryFormatError" : i === 6 ? "MemoryVersionError" : "MemoryChecksumError";
      expect(error.name, `byte ${i}`).toBe(expected);
      expect(LccError.isInstance(error), `byte ${i}`).toBe(true);
    }
  });

  it("flipped bytes with a valid checksum raise only LccErrors", () => {
    const outcomes = new Map<string, number>();
    for (let i = 0; i < file.length; i++) {
      const flipped = file.slice();
      flipped[i] = flipped[i]! ^ (1 << (i % 8));
      let outcome = "decoded";
      try {
        decodeMemory(withValidChecksum(flipped));
      } catch (error) {
        expect(LccError.isInstance(error), `byte ${i}: ${String(error)}`).toBe(true);
        outcome = (error as Error).name;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // A flip in tensor data or a name can decode; flips in counts, lengths and tags cannot.
    expect(outcomes.get("MemoryFormatError")).toBeGreaterThan(20);
    expect(outcomes.get("decoded")).toBeGreaterThan(20);
  });

  it("rejects a body that is not a protobuf", () => {
    const error = decodeError(frameBytes(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2])));
    expect(error.name).toBe("MemoryFormatError");
    expect(error.message).toMatch(/is not a valid MemoryFile protobuf: index out of range/);
  });

  it("rejects bytes that are not a Uint8Array", () => {
    expect(() => decodeMemory([1, 2, 3] as unknown as Uint8Array)).toThrow(InvalidArgumentError);
  });
});

describe("decodeMemory content checks", () => {
  it.each([
    ["a missing field", (m: RawMessage) => (m.model = null), /has no model field/],
    ["a missing layer", (m: RawMessage) => m.layers.pop(), /the file has 1 layer but model\.num_layers is 2/],
    ["an extra layer", (m: RawMessage) => m.layers.push(m.layers[0]), /the file has 3 layers but model\.num_layers is 2/],
    ["missing values", (m: RawMessage) => (m.layers[1].values = null), /layers\[1\]\.values is missing/],
    [
      "short data",
      (m: RawMessage) => (m.layers[0].keys.data = m.layers[0].keys.data.subarray(2)),
      /layers\[0\]\.keys has 46 data bytes but float16 \[3, 2, 4\] needs 48/,
    ],
    [
      "a wrong shape",
      (m: RawMessage) => (m.layers[0].values.shape = [3, 2, 5]),
      /layers\[0\]\.values has shape \[3, 2, 5\] but must be \[K, Hkv, Dh\] = \[3, 2, 4\]/,
    ],
    ["a rank-2 shape", (m: RawMessage) => (m.layers[0].values.shape = [3, 8]), /layers\[0\]\.values has shape \[3, 8\]/],
    [
      "an unknown dtype",
      (m: RawMessage) => (m.layers[1].keys.dtype = 9),
      /layers\[1\]\.keys has dtype code 9, which format 1\.0 does not define .*a newer lcc may read it/,
    ],
    [
      "scales on float16",
      (m: RawMessage) => (m.layers[0].keys.scales = new Uint8Array(32)),
      /layers\[0\]\.keys has 32 scale bytes but only int8 tensors have scales/,
    ],
    ["too few positions", (m: RawMessage) => m.positions.pop(), /positions has 2 entries but compression\.bufferTokens is 3/],
    [
      "a negative position",
      (m: RawMessage) => (m.positions[0] = -1),
      /positions\[0\] is -1 but positions must be non-negative safe integers/,
    ],
    [
      "a position past 2^53",
      (m: RawMessage) => (m.positions[2] = "9007199254740993"),
      /positions\[2\] is 9007199254740992 but positions must be non-negative safe integers/,
    ],
    [
      "too many layers",
      (m: RawMessage) => (m.model.num_layers = 5000),
      /fingerprint\.numLayers is 5000 but must be an integer in \[1, 1024\]/,
    ],
    [
      "too many buffer tokens",
      (m: RawMessage) => (m.compression.buffer_tokens = 2_000_000),
      /compression\.bufferTokens is 2000000 but must be an integer in \[1, 1048576\]/,
    ],
    ["zero heads", (m: RawMessage) => (m.model.num_kv_heads = 0), /fingerprint\.numKvHeads is 0/],
    [
      "a bad hash",
      (m: RawMessage) => (m.model.weights_sha256 = "xyz"),
      /fingerprint\.weightsSha256 must be 64 lowercase hexadecimal digits/,
    ],
    [
      "a ratio below 1",
      (m: RawMessage) => (m.compression.ratio = 0.5),
      /compression\.ratio is 0\.5 but must be a finite number of at least 1/,
    ],
    [
      "segments that stop short",
      (m: RawMessage) => (m.compression.segments[0].source_end = 40),
      /compression\.segments end at source token 40 and buffer token 3 but must cover all 48 source tokens/,
    ],
    ["no segments", (m: RawMessage) => (m.compression.segments = []), /compression\.segments must be a non-empty list/],
    ["invalid options JSON", (m: RawMessage) => (m.provenance.options_json = "{ratio: 16"), /provenance\.options_json is not valid JSON/],
    [
      "options that are not an object",
      (m: RawMessage) => (m.provenance.options_json = "[1, 2]"),
      /provenance\.options_json must hold a JSON object/,
    ],
    [
      "a repeated loss name",
      (m: RawMessage) => m.provenance.final_losses.push({ name: "kl", value: 1 }),
      /provenance\.final_losses has the name "kl" twice/,
    ],
    [
      "a NaN loss",
      (m: RawMessage) => (m.provenance.final_losses[0].value = Number.NaN),
      /provenance\.finalLosses\.kl is NaN but must be a finite number/,
    ],
    ["a negative wall time", (m: RawMessage) => (m.provenance.wall_time_seconds = -1), /provenance\.wallTimeSeconds is -1/],
    ["a source text that does not match", (m: RawMessage) => (m.source.text = "another story"), /sourceText does not match sourceSha256/],
    [
      "a bad creation time",
      (m: RawMessage) => (m.created_at = "2026-13-45T99:00:00Z"),
      /createdAt is "2026-13-45T99:00:00Z" but must be an RFC 3339 UTC time/,
    ],
    ["an empty producer", (m: RawMessage) => (m.producer.name = ""), /producer\.name must be a non-empty string/],
    [
      "a missing version field",
      (m: RawMessage) => (m.format_version = null),
      /format_version field is missing but its bytes 6 and 7 say 1\.0/,
    ],
    ["a checksum field inside", (m: RawMessage) => (m.checksum = new Uint8Array(32)), /has a checksum field before its end/],
  ])("rejects %s", (_case, change, pattern) => {
    const error = decodeError(forged(change));
    expect(error.name).toBe("MemoryFormatError");
    expect(error.message).toMatch(pattern);
    expect(error.message).toMatch(/\nhint: the file is corrupted or truncated/);
  });

  it("lists several problems at once", () => {
    const error = decodeError(
      forged((m) => {
        m.producer.version = "";
        m.created_at = "now";
        m.compression.ratio = Number.NaN;
      }),
    );
    expect(error.message).toMatch(
      /the memory file is invalid \(3 problems\):\n {2}- producer\.version .*\n {2}- compression\.ratio .*\n {2}- createdAt /,
    );
  });

  it("rejects huge claimed shapes without allocating", () => {
    // 1,048,576 x 1,024 x 4,096 float16 would be 8 TiB: the check must come before any allocation.
    const huge = forged((m) => {
      m.compression.buffer_tokens = 1_048_576;
      m.compression.segments[0].buffer_end = 1_048_576;
      m.compression.source_tokens = 16_777_216;
      m.compression.segments[0].source_end = 16_777_216;
      m.positions = Array.from({ length: 1_048_576 }, (_, k) => k);
      m.model.num_kv_heads = 1024;
      m.model.head_dim = 4096;
      for (const layer of m.layers) for (const tensor of [layer.keys, layer.values]) tensor.shape = [1_048_576, 1024, 4096];
    });
    const error = decodeError(huge);
    expect(error.name).toBe("MemoryFormatError");
    expect(error.message).toMatch(/layers\[0\]\.keys has 48 data bytes but float16 \[1048576, 1024, 4096\] needs 8796093022208/);
  });

  it("rejects NaN in float32 data", () => {
    const float32 = encodeMemory(memory, { dtype: "float32" });
    const error = decodeError(
      forged((m) => (m.layers[1].values.data = new Uint8Array(new Float32Array(24).fill(Number.NaN).buffer)), float32),
    );
    expect(error.message).toMatch(/layers\[1\]\.values element 0 is NaN; keys and values must be finite/);
  });

  it("rejects int8 problems", () => {
    const int8 = encodeMemory(memory, { dtype: "int8" });
    const noScales = decodeError(forged((m) => (m.layers[0].keys.scales = new Uint8Array(0)), int8));
    expect(noScales.message).toMatch(
      /layers\[0\]\.keys has 0 scale bytes but int8 needs one float32 scale per channel, 32 bytes for \[Hkv, Dh\] = \[2, 4\]/,
    );

    const minus128 = decodeError(forged((m) => (m.layers[0].values.data = new Uint8Array(24).fill(0x80)), int8));
    expect(minus128.message).toMatch(/layers\[0\]\.values element 0 is -128; int8 values must lie in \[-127, 127\]/);

    const nanScale = decodeError(
      forged((m) => (m.layers[1].keys.scales = new Uint8Array(new Float32Array(8).fill(Number.NaN).buffer)), int8),
    );
    expect(nanScale.message).toMatch(/layers\[1\]\.keys scale 0 is NaN; scales must be finite and non-negative/);

    const negativeScale = decodeError(forged((m) => (m.layers[1].keys.scales = new Uint8Array(new Float32Array(8).fill(-1).buffer)), int8));
    expect(negativeScale.message).toMatch(/layers\[1\]\.keys scale 0 is -1/);
  });

  it("reads layers first and unaligned", () => {
    // Protobuf readers accept fields in any order: put the layers first, without alignment fields.
    const float32 = encodeMemory(memory, { dtype: "float32" });
    const message = rawMessage(float32);
    const strip = (tensor: RawMessage) => ({ dtype: tensor.dtype, shape: tensor.shape, data: tensor.data });
    const layers = message.layers.map((layer: RawMessage) => ({ keys: strip(layer.keys), values: strip(layer.values) }));
    const layerBytes = memoryTypes().MemoryFile.encode({ layers }).finish();
    message.layers = [];
    const otherBytes = memoryTypes().MemoryFile.encode(message).finish();
    const reordered = frameBytes(new Uint8Array([...layerBytes, ...otherBytes]));

    const offsets = rawMessage(reordered).layers.flatMap((layer: RawMessage) => [
      layer.keys.data.byteOffset % 4,
      layer.values.data.byteOffset % 4,
    ]);
    expect(offsets.some((offset: number) => offset !== 0)).toBe(true);
    const decoded = decodeMemory(reordered);
    for (let l = 0; l < 2; l++) {
      expect(bitsOf(decoded.layers[l]!.keys.data)).toEqual(bitsOf(memory.layers[l]!.keys.data));
      expect(bitsOf(decoded.layers[l]!.values.data)).toEqual(bitsOf(memory.layers[l]!.values.data));
    }
  });
});

describe("decodeMemory expected model", () => {
  const smolLm = {
    name: "SmolLM2-135M",
    architecture: "llama",
    weightsSha256: sha256Hex("other weights"),
    numLayers: 30,
    numKvHeads: 3,
    headDim: 64,
  };

  it("rejects a memory for another model", () => {
    const error = decodeError(file, { expect: smolLm });
    expect(error).toBeInstanceOf(MemoryModelMismatchError);
    expect(error.name).toBe("MemoryModelMismatchError");
    const weights = sha256Hex("weights").slice(0, 12);
    const otherWeights = smolLm.weightsSha256.slice(0, 12);
    expect(error.message).toContain(
      `the memory was compiled for "stories260K" (llama, weights sha256 ${weights}…) but is used with "SmolLM2-135M" (llama, weights sha256 ${otherWeights}…)`,
    );
    expect(error.message).toMatch(/weightsSha256 is [0-9a-f]{64} in the memory but [0-9a-f]{64} in the model/);
    expect(error.message).toMatch(/numLayers is 2 in the memory but 30 in the model/);
    expect(error.message).toMatch(/numKvHeads is 2 in the memory but 3 in the model/);
    expect(error.message).toMatch(/headDim is 4 in the memory but 64 in the model/);
    expect(error.message).toMatch(/\nhint: use the memory with the model it was compiled for/);
    expect(error.message).not.toMatch(/architecture is/);
  });

  it("rejects another architecture", () => {
    const error = decodeError(file, { expect: { name: "Qwen2-0.5B", architecture: "qwen2" } });
    expect(error.message).toMatch(
      /but is used with "Qwen2-0.5B" \(qwen2\):\n {2}- architecture is llama in the memory but qwen2 in the model/,
    );
  });

  it("accepts the same model under another name", () => {
    const { name: _name, ...fingerprint } = memory.fingerprint;
    const decoded = decodeMemory(file, { expect: { ...fingerprint, name: "my-stories" } });
    expect(decoded.fingerprint.name).toBe("stories260K");
  });
});
