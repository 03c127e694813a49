import { describe, expect, it } from "vitest";

import { decodeStorage, dequantizeInt8, int8Scales, quantizeInt8 } from "./storage.js";
import { normalValues, seededRandom } from "./test/memories.js";

describe("int8 quantisation", () => {
  it("scales per channel", () => {
    // [K = 3, C = 2]: channel 0 is 1, -3, 2 and channel 1 is 0.5, 0.25, -0.125.
    const values = new Float32Array([1, 0.5, -3, 0.25, 2, -0.125]);
    const scales = int8Scales(values, 2);
    expect(Array.from(scales)).toEqual([Math.fround(3 / 127), Math.fround(0.5 / 127)]);
    expect(Array.from(quantizeInt8(values, scales))).toEqual([42, 127, -127, 64, 85, -32]);
  });

  it("zero channel has scale 0", () => {
    const values = new Float32Array([0, 1, -0, -1]);
    const scales = int8Scales(values, 2);
    expect(scales[0]).toBe(0);
    const quantized = quantizeInt8(values, scales);
    expect(Array.from(quantized)).toEqual([0, 127, 0, -127]);
    expect(Array.from(dequantizeInt8(quantized, scales))).toEqual([0, Math.fround(127 * scales[1]!), 0, Math.fround(-127 * scales[1]!)]);
  });

  it("extremes stay in [-127, 127]", () => {
    // Channel 0 is ±3.4e38. Channel 1 is ±1e-45, whose scale underflows to 0.
    const values = new Float32Array([3.4e38, 1e-45, -3.4e38, -1e-45]);
    const scales = int8Scales(values, 2);
    expect(Array.from(scales)).toEqual([Math.fround(3.4e38 / 127), 0]);
    expect(Array.from(quantizeInt8(values, scales))).toEqual([127, 0, -127, 0]);
  });

  it("error is at most half a step", () => {
    const random = seededRandom(3);
    const channels = 64;
    const values = normalValues(random, 256 * channels, 1);
    const scales = int8Scales(values, channels);
    const restored = dequantizeInt8(quantizeInt8(values, scales), scales);
    let worstRatio = 0;
    for (let i = 0; i < values.length; i++) {
      const scale = scales[i % channels]!;
      worstRatio = Math.max(worstRatio, Math.abs(values[i]! - restored[i]!) / scale);
    }
    expect(worstRatio).toBeLessThanOrEqual(0.5 + 1e-5);
    // 16,384 normal values come close to the bound.
    expect(worstRatio).toBeGreaterThan(0.49);
  });
});

describe("decodeStorage", () => {
  it("rejects infinity in float16", () => {
    const bits = new Uint16Array([0x3c00, 0x7c00]);
    const result = decodeStorage(new Uint8Array(bits.buffer), "float16", new Uint8Array(0), "t");
    expect(result).toEqual({ ok: false, problem: "t element 1 is Infinity; keys and values must be finite" });
  });

  it("rejects an overflowing int8 product", () => {
    // 127 * 3e38 overflows float32.
    const scales = new Float32Array([3e38]);
    const result = decodeStorage(new Uint8Array([127]), "int8", new Uint8Array(scales.buffer), "t");
    expect(result).toEqual({ ok: false, problem: "t element 0 is Infinity; keys and values must be finite" });
  });
});
