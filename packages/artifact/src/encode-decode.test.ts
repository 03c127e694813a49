import { InvalidArgumentError, Tensor, fromBFloat16, fromFloat16, toBFloat16, toFloat16 } from "@lcc/tensor";
import { describe, expect, it } from "vitest";

import { decodeMemory } from "./decode.js";
import { encodeMemory } from "./encode.js";
import { CHECKSUM_TRAILER_BYTES, FRAME_HEADER_BYTES } from "./proto.js";
import { bitsOf, makeMemory, rawMessage } from "./test/memories.js";
import { type Memory, type StorageDType, STORAGE_DTYPES } from "./types.js";

/** Returns the metadata of a memory, everything but the tensors, for deep comparison. */
function metadataOf(memory: Memory): Omit<Memory, "layers"> {
  const { layers: _layers, ...metadata } = memory;
  return metadata;
}

/** float32 values after a round trip through the 16-bit format `dtype`. */
function storageRounded(values: Float32Array, dtype: "float16" | "bfloat16"): Float32Array {
  return dtype === "float16" ? fromFloat16(toFloat16(values)) : fromBFloat16(toBFloat16(values));
}

describe("encodeMemory and decodeMemory", () => {
  const memory = makeMemory({ layers: 3, bufferTokens: 5, kvHeads: 2, headDim: 8 }, 7);

  it("float32 is bit-exact", () => {
    const decoded = decodeMemory(encodeMemory(memory, { dtype: "float32" }));
    expect(decoded.storedDType).toBe("float32");
    for (let l = 0; l < memory.layers.length; l++) {
      for (const part of ["keys", "values"] as const) {
        const original = memory.layers[l]![part];
        const restored = decoded.layers[l]![part];
        expect(restored.shape).toEqual([5, 2, 8]);
        expect(restored.dtype).toBe("float32");
        expect(bitsOf(restored.data)).toEqual(bitsOf(original.data));
      }
    }
  });

  it.each(["float16", "bfloat16"] as const)("%s is bit-exact after storage rounding", (dtype) => {
    const decoded = decodeMemory(encodeMemory(memory, { dtype }));
    expect(decoded.storedDType).toBe(dtype);
    let maxError = 0;
    for (let l = 0; l < memory.layers.length; l++) {
      for (const part of ["keys", "values"] as const) {
        const original = memory.layers[l]![part].data;
        const restored = decoded.layers[l]![part].data;
        expect(bitsOf(restored)).toEqual(bitsOf(storageRounded(original, dtype)));
        for (let i = 0; i < original.length; i++)
          maxError = Math.max(maxError, Math.abs(original[i]! - restored[i]!) / Math.max(Math.abs(original[i]!), 2 ** -14));
      }
    }
    // Round to nearest loses at most half a unit in the last place: 2^-11 and 2^-8 relative.
    expect(maxError).toBeLessThanOrEqual(dtype === "float16" ? 2 ** -11 : 2 ** -8);
    expect(maxError).toBeGreaterThan(0);
  });

  it("int8 is within half a scale", () => {
    const decoded = decodeMemory(encodeMemory(memory, { dtype: "int8" }));
    expect(decoded.storedDType).toBe("int8");
    let maxError = 0;
    for (let l = 0; l < memory.layers.length; l++) {
      for (const part of ["keys", "values"] as const) {
        const original = memory.layers[l]![part].data;
        const restored = decoded.layers[l]![part].data;
        const channels = 2 * 8;
        for (let c = 0; c < channels; c++) {
          let maxAbs = 0;
          for (let k = 0; k < 5; k++) maxAbs = Math.max(maxAbs, Math.abs(original[k * channels + c]!));
          const scale = maxAbs / 127;
          for (let k = 0; k < 5; k++) {
            const error = Math.abs(original[k * channels + c]! - restored[k * channels + c]!);
            // Half a step, plus the float32 roundings of the scale and of the product.
            expect(error).toBeLessThanOrEqual(scale / 2 + maxAbs * 2 ** -22);
            maxError = Math.max(maxError, error);
          }
        }
      }
    }
    // The values have standard deviation 2, so one step is about 6 / 127.
    expect(maxError).toBeGreaterThan(0.001);
    expect(maxError).toBeLessThan(0.05);
  });

  it("int8 decoding is stable under re-encoding", () => {
    const once = decodeMemory(encodeMemory(memory, { dtype: "int8" }));
    const twice = decodeMemory(encodeMemory(once, { dtype: "int8" }));
    for (let l = 0; l < memory.layers.length; l++) {
      expect(bitsOf(twice.layers[l]!.keys.data)).toEqual(bitsOf(once.layers[l]!.keys.data));
      expect(bitsOf(twice.layers[l]!.values.data)).toEqual(bitsOf(once.layers[l]!.values.data));
    }
  });

  it.each(STORAGE_DTYPES)("metadata survives %s", (dtype: StorageDType) => {
    const decoded = decodeMemory(encodeMemory(memory, { dtype, includeSourceText: true }));
    expect(metadataOf(decoded)).toMatchObject(metadataOf(memory));
    expect(decoded.formatVersion).toEqual({ major: 1, minor: 0 });
    expect(decoded.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it("source text only on request", () => {
    const without = decodeMemory(encodeMemory(memory, { dtype: "float16" }));
    expect(without.sourceText).toBeUndefined();
    expect("sourceText" in without).toBe(false);
    expect(without.sourceSha256).toBe(memory.sourceSha256);
    const withText = decodeMemory(encodeMemory(memory, { dtype: "float16", includeSourceText: true }));
    expect(withText.sourceText).toBe(memory.sourceText);
  });

  it("empty source text is kept", () => {
    const empty = { ...memory, sourceText: "", sourceSha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" };
    expect(decodeMemory(encodeMemory(empty, { dtype: "float16", includeSourceText: true })).sourceText).toBe("");
  });

  it("int8 hand-checked channel", () => {
    // One channel of K = 4 tokens: scale = 1 / 127, q = 127, -64 (ties away from zero), 32, 0.
    const channel = new Float32Array([1, -0.5, 0.25, 0]);
    const small = makeMemory({ layers: 1, bufferTokens: 4, kvHeads: 1, headDim: 1 });
    const handMade: Memory = {
      ...small,
      layers: [{ keys: new Tensor("float32", [4, 1, 1], channel), values: new Tensor("float32", [4, 1, 1], new Float32Array(4)) }],
    };
    const decoded = decodeMemory(encodeMemory(handMade, { dtype: "int8" }));
    const scale = Math.fround(1 / 127);
    expect(Array.from(decoded.layers[0]!.keys.data)).toEqual([127, -64, 32, 0].map((q) => Math.fround(q * scale)));
    expect(Array.from(decoded.layers[0]!.values.data)).toEqual([0, 0, 0, 0]);
  });
});

describe("layout", () => {
  it("float16 size within 1% of the payload", () => {
    // A Llama-3.1-8B-shaped memory of 128 buffer tokens: 2,048 context tokens at 16x.
    const shape = { layers: 32, bufferTokens: 128, kvHeads: 8, headDim: 128 };
    const memory = makeMemory(shape, 3);
    const payload = shape.layers * 2 * shape.bufferTokens * shape.kvHeads * shape.headDim * 2;
    const file = encodeMemory(memory, { dtype: "float16" });
    expect(payload).toBe(16 * 1024 * 1024);
    expect(file.length).toBeGreaterThan(payload);
    expect(file.length).toBeLessThan(payload * 1.01);
  });

  it.each(STORAGE_DTYPES)("%s data is 4-byte aligned", (dtype) => {
    // The sizes cross the points where length varints grow (128 and 16,384 bytes).
    let tensors = 0;
    for (let K = 1; K <= 140; K++) {
      for (const [kvHeads, headDim] of [
        [1, 3],
        [2, 32],
      ] as const) {
        const file = encodeMemory(makeMemory({ layers: 2, bufferTokens: K, kvHeads, headDim }, K), { dtype });
        for (const layer of rawMessage(file).layers) {
          for (const tensor of [layer.keys, layer.values]) {
            expect((tensor.data.byteOffset - file.byteOffset) % 4, `K = ${K}, [${kvHeads}, ${headDim}]`).toBe(0);
            expect(tensor.alignment.length).toBeLessThanOrEqual(11);
            expect(Array.from(tensor.alignment as Uint8Array).every((byte) => byte === 0)).toBe(true);
            tensors++;
          }
        }
      }
    }
    expect(tensors).toBe(140 * 2 * 4);
  });

  it("float32 decodes as views when aligned", () => {
    const memory = makeMemory();
    const file = encodeMemory(memory, { dtype: "float32" });
    const decoded = decodeMemory(file);
    const keys = decoded.layers[0]!.keys.data;
    expect(keys.buffer).toBe(file.buffer);
    expect(bitsOf(keys)).toEqual(bitsOf(memory.layers[0]!.keys.data));
  });

  it("float32 copies when unaligned", () => {
    const memory = makeMemory();
    const file = encodeMemory(memory, { dtype: "float32" });
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    const input = shifted.subarray(1);
    const decoded = decodeMemory(input);
    const keys = decoded.layers[1]!.keys.data;
    expect(keys.buffer).not.toBe(shifted.buffer);
    expect(bitsOf(keys)).toEqual(bitsOf(memory.layers[1]!.keys.data));
  });

  it.each(STORAGE_DTYPES)("%s decodes from an unaligned Buffer", (dtype) => {
    // A Buffer's slice is a view, so unaligned data must be copied another way.
    const memory = makeMemory({ layers: 2, bufferTokens: 5, kvHeads: 3, headDim: 3 }, 9);
    const file = encodeMemory(memory, { dtype });
    const reference = decodeMemory(file);
    for (const shift of [1, 2, 3]) {
      const pool = Buffer.alloc(file.length + shift);
      pool.set(file, shift);
      const decoded = decodeMemory(pool.subarray(shift));
      for (let l = 0; l < 2; l++) {
        expect(bitsOf(decoded.layers[l]!.keys.data)).toEqual(bitsOf(reference.layers[l]!.keys.data));
        expect(bitsOf(decoded.layers[l]!.values.data)).toEqual(bitsOf(reference.layers[l]!.values.data));
      }
    }
  });

  it("frame starts with magic and ends with checksum", () => {
    const file = encodeMemory(makeMemory(), { dtype: "float16" });
    expect(Array.from(file.subarray(0, FRAME_HEADER_BYTES))).toEqual([0x4c, 0x43, 0x43, 0x4d, 0x45, 0x4d, 1, 0]);
    expect(file[file.length - CHECKSUM_TRAILER_BYTES]).toBe(0x7a);
    expect(file[file.length - CHECKSUM_TRAILER_BYTES + 1]).toBe(32);
  });

  it("encoding is deterministic", () => {
    const memory = makeMemory();
    expect(encodeMemory(memory, { dtype: "int8" })).toEqual(encodeMemory(memory, { dtype: "int8" }));
  });
});

describe("encodeMemory validation", () => {
  it("lists every problem", () => {
    const memory = makeMemory();
    const broken = {
      ...memory,
      positions: [1, 2],
      fingerprint: { ...memory.fingerprint, weightsSha256: "ABC", numKvHeads: 0 },
      createdAt: "yesterday",
    };
    const error = (() => {
      try {
        encodeMemory(broken, { dtype: "float16" });
      } catch (caught) {
        return caught as Error;
      }
      throw new Error("encodeMemory accepted an invalid memory");
    })();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/fingerprint\.weightsSha256 must be 64 lowercase hexadecimal digits/);
    expect(error.message).toMatch(/fingerprint\.numKvHeads is 0 but must be an integer in \[1, 1024\]/);
    expect(error.message).toMatch(/positions has 2 entries but compression\.bufferTokens is 3/);
    expect(error.message).toMatch(/createdAt is "yesterday"/);
  });

  it("rejects a wrong tensor shape", () => {
    const memory = makeMemory();
    const layers = [memory.layers[0]!, { keys: memory.layers[1]!.keys, values: new Tensor("float32", [3, 2, 5]) }];
    expect(() => encodeMemory({ ...memory, layers }, { dtype: "float32" })).toThrow(
      /layers\[1\]\.values has shape \[3, 2, 5\] but must be \[K, Hkv, Dh\] = \[3, 2, 4\]/,
    );
  });

  it("rejects a missing layer", () => {
    const memory = makeMemory();
    expect(() => encodeMemory({ ...memory, layers: memory.layers.slice(1) }, { dtype: "float32" })).toThrow(
      /layers has 1 entry but fingerprint\.numLayers is 2/,
    );
  });

  it("rejects non-finite values", () => {
    const memory = makeMemory();
    const keys = new Tensor("float32", [3, 2, 4], new Float32Array(24).fill(1));
    keys.data[5] = Number.NaN;
    const layers = [{ keys, values: memory.layers[0]!.values }, memory.layers[1]!];
    expect(() => encodeMemory({ ...memory, layers }, { dtype: "float32" })).toThrow(
      /layers\[0\]\.keys element 5 is NaN; keys and values must be finite/,
    );
  });

  it("rejects float16 overflow", () => {
    const memory = makeMemory();
    const keys = new Tensor("float32", [3, 2, 4], new Float32Array(24));
    keys.data[7] = 70000;
    const layers = [{ keys, values: memory.layers[0]!.values }, memory.layers[1]!];
    expect(() => encodeMemory({ ...memory, layers }, { dtype: "float16" })).toThrow(
      /layers\[0\]\.keys element 7 is 70000, which is outside the float16 range/,
    );
    expect(decodeMemory(encodeMemory({ ...memory, layers }, { dtype: "bfloat16" })).layers[0]!.keys.data[7]).toBe(70144);
  });

  it("rejects a source text that does not match", () => {
    const memory = { ...makeMemory(), sourceText: "another story" };
    expect(() => encodeMemory(memory, { dtype: "float16" })).toThrow(/sourceText does not match sourceSha256/);
  });

  it("rejects bad options", () => {
    const memory = makeMemory();
    expect(() => encodeMemory(memory, { dtype: "float64" as StorageDType })).toThrow(
      /options\.dtype is "float64" but must be one of float32, float16, bfloat16, int8/,
    );
    const { sourceText: _text, ...withoutText } = memory;
    expect(() => encodeMemory(withoutText, { dtype: "int8", includeSourceText: true })).toThrow(
      /includeSourceText is true but the memory has no sourceText/,
    );
  });

  it("rejects non-contiguous segments", () => {
    const memory = makeMemory();
    const segments = [
      { sourceStart: 0, sourceEnd: 20, bufferStart: 0, bufferEnd: 2 },
      { sourceStart: 21, sourceEnd: 48, bufferStart: 2, bufferEnd: 3 },
    ];
    expect(() => encodeMemory({ ...memory, compression: { ...memory.compression, segments } }, { dtype: "float32" })).toThrow(
      /compression\.segments\[1\] starts at source token 21 and buffer token 2 but must start at 20 and 2/,
    );
  });

  it("rejects options that JSON cannot store", () => {
    const memory = makeMemory();
    const provenance = { ...memory.provenance, options: { learningRate: Number.POSITIVE_INFINITY } };
    expect(() => encodeMemory({ ...memory, provenance }, { dtype: "float32" })).toThrow(
      /provenance\.options\.learningRate is Infinity, which JSON cannot store/,
    );
  });
});
