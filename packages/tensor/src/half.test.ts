import { describe, expect, it } from "vitest";

import { InvalidArgumentError } from "./errors.js";
import {
  bfloat16BitsToFloat32,
  castTensor,
  float16BitsToFloat32,
  float32ToBFloat16Bits,
  float32ToFloat16Bits,
  float64ToBFloat16Bits,
  float64ToFloat16Bits,
  fromBFloat16,
  fromFloat16,
  toBFloat16,
  toFloat16,
} from "./half.js";
import { Tensor } from "./tensor.js";

// ---------------------------------------------------------------------------
// Independent reference: every value of a format from its definition, and rounding
// by locating the two neighbouring values and comparing with their exact midpoint.
// ---------------------------------------------------------------------------

interface Format {
  name: string;
  exponentBits: number;
  mantissaBits: number;
  /** Positive values of the bit patterns 0 .. infinityBits, see `positiveValues`. */
  values: Float64Array;
  infinityBits: number;
  quietBit: number;
}

/** 2^n by repeated doubling or halving, so each step is exact. */
function powerOfTwo(n: number): number {
  let power = 1;
  for (let i = 0; i < Math.abs(n); i++) power = n > 0 ? power * 2 : power / 2;
  return power;
}

/**
 * Values of the positive bit patterns in bit order. Entry `infinityBits` is
 * 2^(maxExponent + 1): the value that pattern would have with an unbounded exponent,
 * which is where rounding past the largest finite value lands (on Infinity).
 */
function positiveValues(exponentBits: number, mantissaBits: number): Float64Array {
  const bias = 2 ** (exponentBits - 1) - 1;
  const mantissaCount = 2 ** mantissaBits;
  const infinityBits = (2 ** exponentBits - 1) * mantissaCount;
  const values = new Float64Array(infinityBits + 1);
  for (let bits = 0; bits <= infinityBits; bits++) {
    const exponent = Math.floor(bits / mantissaCount);
    const mantissa = bits % mantissaCount;
    values[bits] =
      exponent === 0
        ? mantissa * powerOfTwo(1 - bias - mantissaBits) // subnormal: 0.m * 2^(1 - bias)
        : (mantissaCount + mantissa) * powerOfTwo(exponent - bias - mantissaBits); // 1.m * 2^(e - bias)
  }
  return values;
}

function makeFormat(name: string, exponentBits: number, mantissaBits: number): Format {
  const values = positiveValues(exponentBits, mantissaBits);
  return { name, exponentBits, mantissaBits, values, infinityBits: values.length - 1, quietBit: 2 ** (mantissaBits - 1) };
}

const FLOAT16 = makeFormat("float16", 5, 10);
const BFLOAT16 = makeFormat("bfloat16", 8, 7);

/** Rounds any double to the nearest value of `format`, ties to even, and returns its bits or "NaN". */
function referenceRound(x: number, format: Format): number | "NaN" {
  if (Number.isNaN(x)) return "NaN";
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(x);
  const { values, infinityBits } = format;
  if (magnitude >= values[infinityBits]!) return sign | infinityBits;

  // Binary search keeps values[low] <= magnitude < values[high].
  let low = 0;
  let high = infinityBits;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if (values[middle]! <= magnitude) low = middle;
    else high = middle;
  }

  // The midpoint is exact: the sum of two neighbouring values needs at most
  // mantissaBits + 2 significant bits, far below the 53 of a double.
  const midpoint = (values[low]! + values[high]!) / 2;
  if (magnitude < midpoint) return sign | low;
  if (magnitude > midpoint) return sign | high;
  return sign | (low % 2 === 0 ? low : high);
}

/** Exact value of a pattern of `format` from the table, NaN for NaN patterns. */
function referenceValue(bits: number, format: Format): number {
  const magnitudeBits = bits & 0x7fff;
  if (magnitudeBits > format.infinityBits) return Number.NaN;
  const magnitude = magnitudeBits === format.infinityBits ? Number.POSITIVE_INFINITY : format.values[magnitudeBits]!;
  return bits & 0x8000 ? -magnitude : magnitude;
}

function isNaNPattern(bits: number, format: Format): boolean {
  return (bits & 0x7fff) > format.infinityBits;
}

function isQuietNaNPattern(bits: number, format: Format): boolean {
  return isNaNPattern(bits, format) && (bits & format.quietBit) !== 0;
}

const hex = (bits: number): string => `0x${bits.toString(16).padStart(4, "0")}`;

// ---------------------------------------------------------------------------
// Seeded random inputs
// ---------------------------------------------------------------------------

/** xorshift32 (Marsaglia 2003): a small seeded generator of unsigned 32-bit integers. */
function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

const bitView = new DataView(new ArrayBuffer(8));

function float32Bits(x: number): number {
  bitView.setFloat32(0, x);
  return bitView.getUint32(0);
}

function float32FromBits(bits: number): number {
  bitView.setUint32(0, bits >>> 0);
  return bitView.getFloat32(0);
}

function float64FromBits(high: number, low: number): number {
  bitView.setUint32(0, high >>> 0);
  bitView.setUint32(4, low >>> 0);
  return bitView.getFloat64(0);
}

/** Steps a positive finite float64 by `ulps` units in the last place. */
function nudgeFloat64(x: number, ulps: number): number {
  bitView.setFloat64(0, x);
  bitView.setBigUint64(0, bitView.getBigUint64(0) + BigInt(ulps));
  return bitView.getFloat64(0);
}

/**
 * Float32 bit patterns: a quarter uniform over all 2^32 patterns (every exponent, NaN,
 * Infinity, subnormals), half with an exponent inside `exponentWindow`, and a quarter
 * on a midpoint of `format` or one float32 step beside it, where rounding is decided.
 */
function randomFloat32Bits(count: number, seed: number, format: Format, exponentWindow: readonly [number, number]): Uint32Array {
  const next = xorshift32(seed);
  const bits = new Uint32Array(count);
  const [minExponent, maxExponent] = exponentWindow;
  for (let i = 0; i < count; i++) {
    const mode = next() % 4;
    const sign = (next() & 1) << 31;
    if (mode === 0) {
      bits[i] = next();
    } else if (mode === 3) {
      const below = next() % format.infinityBits;
      const midpoint = (format.values[below]! + format.values[below + 1]!) / 2;
      bits[i] = (sign | float32Bits(midpoint)) + ((next() % 3) - 1);
    } else {
      const exponent = minExponent + (next() % (maxExponent - minExponent + 1));
      bits[i] = sign | (exponent << 23) | (next() & 0x7fffff);
    }
  }
  return bits;
}

/** Float64 values built the same way, with midpoints nudged by a few float64 ulps. */
function randomFloat64(count: number, seed: number, format: Format, exponentWindow: readonly [number, number]): Float64Array {
  const next = xorshift32(seed);
  const values = new Float64Array(count);
  const [minExponent, maxExponent] = exponentWindow;
  for (let i = 0; i < count; i++) {
    const mode = next() % 4;
    const sign = next() & 1 ? -1 : 1;
    if (mode === 0) {
      values[i] = float64FromBits(next(), next());
    } else if (mode === 3) {
      const below = next() % format.infinityBits;
      const midpoint = (format.values[below]! + format.values[below + 1]!) / 2;
      values[i] = sign * nudgeFloat64(midpoint, (next() % 5) - 2);
    } else {
      const exponent = minExponent + (next() % (maxExponent - minExponent + 1));
      values[i] = float64FromBits((next() & 0x80000000) | (exponent << 20) | (next() & 0xfffff), next());
    }
  }
  return values;
}

/** Lists the first mismatches between a conversion and the reference. */
function compareWithReference(inputs: ArrayLike<number>, actual: ArrayLike<number>, format: Format): string[] {
  const mismatches: string[] = [];
  for (let i = 0; i < inputs.length && mismatches.length < 10; i++) {
    const x = inputs[i]!;
    const expected = referenceRound(x, format);
    const got = actual[i]!;
    const ok = expected === "NaN" ? isQuietNaNPattern(got, format) : got === expected;
    if (!ok) mismatches.push(`input ${x}: expected ${expected === "NaN" ? "quiet NaN" : hex(expected)}, got ${hex(got)}`);
  }
  return mismatches;
}

const ALL_PATTERNS = Uint16Array.from({ length: 65536 }, (_, i) => i);

// ---------------------------------------------------------------------------
// Reference sanity: the tables match well-known constants.
// ---------------------------------------------------------------------------

describe("reference tables", () => {
  it("float16 table has known values", () => {
    expect(FLOAT16.values[0x0001]).toBe(2 ** -24);
    expect(FLOAT16.values[0x03ff]).toBe(1023 * 2 ** -24);
    expect(FLOAT16.values[0x0400]).toBe(2 ** -14);
    expect(FLOAT16.values[0x3c00]).toBe(1);
    expect(FLOAT16.values[0x7bff]).toBe(65504);
    expect(FLOAT16.values[FLOAT16.infinityBits]).toBe(65536);
  });

  it("bfloat16 table has known values", () => {
    expect(BFLOAT16.values[0x0001]).toBe(2 ** -133);
    expect(BFLOAT16.values[0x0080]).toBe(2 ** -126);
    expect(BFLOAT16.values[0x3f80]).toBe(1);
    expect(BFLOAT16.values[0x7f7f]).toBe((2 - 2 ** -7) * 2 ** 127);
    expect(BFLOAT16.values[BFLOAT16.infinityBits]).toBe(2 ** 128);
  });

  it("tables increase strictly", () => {
    for (const format of [FLOAT16, BFLOAT16]) {
      let decreasing = 0;
      for (let i = 1; i < format.values.length; i++) if (!(format.values[i]! > format.values[i - 1]!)) decreasing++;
      expect(decreasing, format.name).toBe(0);
    }
  });
});

// ---------------------------------------------------------------------------
// float16
// ---------------------------------------------------------------------------

describe("float16 conversion", () => {
  it("decodes all 65536 patterns exactly", () => {
    const decoded = fromFloat16(ALL_PATTERNS);
    const wrong: string[] = [];
    for (let bits = 0; bits < 65536 && wrong.length < 10; bits++) {
      const expected = referenceValue(bits, FLOAT16);
      const scalar = float16BitsToFloat32(bits);
      if (!Object.is(scalar, expected)) wrong.push(`scalar ${hex(bits)}: expected ${expected}, got ${scalar}`);
      if (!Object.is(decoded[bits], expected)) wrong.push(`bulk ${hex(bits)}: expected ${expected}, got ${decoded[bits]}`);
    }
    expect(wrong).toEqual([]);
  });

  it("round-trips all 65536 patterns", () => {
    const wrong: string[] = [];
    for (let bits = 0; bits < 65536 && wrong.length < 10; bits++) {
      const back = float32ToFloat16Bits(float16BitsToFloat32(bits));
      const ok = isNaNPattern(bits, FLOAT16) ? isQuietNaNPattern(back, FLOAT16) : back === bits;
      if (!ok) wrong.push(`${hex(bits)} came back as ${hex(back)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("decodes signaling NaN as quiet NaN", () => {
    const decoded = fromFloat16(Uint16Array.of(0x7c01, 0xfd55, 0x7e00));
    expect(Array.from(new Uint32Array(decoded.buffer), (bits) => bits.toString(16))).toEqual(["7fc02000", "ffeaa000", "7fc00000"]);
  });

  it("bulk round trip keeps NaN sign and payload", () => {
    const back = toFloat16(fromFloat16(ALL_PATTERNS));
    const wrong: string[] = [];
    for (let bits = 0; bits < 65536 && wrong.length < 10; bits++) {
      // A NaN comes back with the quiet bit set and everything else unchanged.
      const expected = isNaNPattern(bits, FLOAT16) ? bits | 0x0200 : bits;
      if (back[bits] !== expected) wrong.push(`${hex(bits)} came back as ${hex(back[bits]!)}, expected ${hex(expected)}`);
    }
    expect(wrong).toEqual([]);
  });

  it.each([
    ["1", 1, 0x3c00],
    ["1 + 2^-11 (tie, down to even)", 1 + 2 ** -11, 0x3c00],
    ["1 + 3·2^-11 (tie, up to even)", 1 + 3 * 2 ** -11, 0x3c02],
    ["1 + 2^-11 + 2^-23 (above tie)", 1 + 2 ** -11 + 2 ** -23, 0x3c01],
    ["65504 (max)", 65504, 0x7bff],
    ["65519.99", 65519.99, 0x7bff],
    ["65520 (tie, to Inf)", 65520, 0x7c00],
    ["-65520", -65520, 0xfc00],
    ["2^16", 2 ** 16, 0x7c00],
    ["float32 max", 3.4028234663852886e38, 0x7c00],
    ["Infinity", Number.POSITIVE_INFINITY, 0x7c00],
    ["-Infinity", Number.NEGATIVE_INFINITY, 0xfc00],
    ["0", 0, 0x0000],
    ["-0", -0, 0x8000],
    ["2^-14 (min normal)", 2 ** -14, 0x0400],
    ["2^-24 (min subnormal)", 2 ** -24, 0x0001],
    ["-2^-24", -(2 ** -24), 0x8001],
    ["2^-25 (tie, to zero)", 2 ** -25, 0x0000],
    ["-2^-25 (tie, to -0)", -(2 ** -25), 0x8000],
    ["2^-25 + 2^-40 (above tie)", 2 ** -25 + 2 ** -40, 0x0001],
    ["3·2^-26", 3 * 2 ** -26, 0x0001],
    ["1.5·2^-24 (tie, up to even)", 1.5 * 2 ** -24, 0x0002],
    ["2.5·2^-24 (tie, down to even)", 2.5 * 2 ** -24, 0x0002],
    ["1022.5·2^-24 (tie in subnormals)", 1022.5 * 2 ** -24, 0x03fe],
    ["1023.5·2^-24 (tie, up into normals)", 1023.5 * 2 ** -24, 0x0400],
    ["2^-14 - 2^-26 (normal input, normal result)", 2 ** -14 - 2 ** -26, 0x0400],
    ["2^-15 (normal input, subnormal result)", 2 ** -15, 0x0200],
    ["float32 min subnormal", 2 ** -149, 0x0000],
    ["-float32 min subnormal", -(2 ** -149), 0x8000],
  ])("rounds %s", (_name, x, expected) => {
    expect(hex(float32ToFloat16Bits(x))).toBe(hex(expected));
    expect(hex(toFloat16(Float32Array.of(x))[0]!)).toBe(hex(expected));
    expect(hex(float64ToFloat16Bits(Math.fround(x)))).toBe(hex(expected));
  });

  it("turns NaN into a quiet NaN, never Infinity", () => {
    // 0x7f800001 is a signaling NaN whose payload sits only in bits float16 drops.
    const inputs = new Float32Array(new Uint32Array([0x7f800001, 0xff800001, 0x7fc00000, 0x7fffffff, 0x7fa00000]).buffer);
    expect(Array.from(toFloat16(inputs), hex)).toEqual(["0x7e00", "0xfe00", "0x7e00", "0x7fff", "0x7f00"]);
    expect(isQuietNaNPattern(float32ToFloat16Bits(Number.NaN), FLOAT16)).toBe(true);
    expect(hex(float64ToFloat16Bits(Number.NaN))).toBe("0x7e00");
  });

  it("matches the reference on 100,000 random float32 values", () => {
    // float32 exponent fields 97..144 span 2^-30 to 2^17, the float16 range with margin.
    const bits = randomFloat32Bits(100_000, 0x5eed16, FLOAT16, [97, 144]);
    const inputs = new Float32Array(bits.buffer);
    const scalar = Array.from(bits, (pattern) => float32ToFloat16Bits(float32FromBits(pattern)));

    expect(compareWithReference(inputs, toFloat16(inputs), FLOAT16)).toEqual([]);
    expect(compareWithReference(inputs, scalar, FLOAT16)).toEqual([]);
    expect(compareWithReference(inputs, Array.from(inputs, float64ToFloat16Bits), FLOAT16)).toEqual([]);
  });

  it("rounds random float64 values once", () => {
    // float64 exponent fields 993..1040 span 2^-30 to 2^17.
    const inputs = randomFloat64(100_000, 0xd0b1e16, FLOAT16, [993, 1040]);
    expect(compareWithReference(inputs, Array.from(inputs, float64ToFloat16Bits), FLOAT16)).toEqual([]);
  });

  it("float64 path avoids double rounding", () => {
    // Rounding to float32 first lands exactly on the tie 1 + 2^-11 and then goes down to 1.
    const x = 1 + 2 ** -11 + 2 ** -40;
    expect(hex(float64ToFloat16Bits(x))).toBe("0x3c01");
    expect(hex(float32ToFloat16Bits(x))).toBe("0x3c00");
  });

  it("bulk conversion reads subarray views", () => {
    const base = Float32Array.of(7, 1, 2, 65520, -0.5, 9);
    expect(Array.from(toFloat16(base.subarray(1, 5)), hex)).toEqual(["0x3c00", "0x4000", "0x7c00", "0xb800"]);
    const halves = Uint16Array.of(0xffff, 0x3c00, 0xc000, 0x0001);
    expect(Array.from(fromFloat16(halves.subarray(1)))).toEqual([1, -2, 2 ** -24]);
  });

  it("bulk conversion rejects wrong array types", () => {
    expect(() => toFloat16(new Float64Array(2) as unknown as Float32Array)).toThrowError(InvalidArgumentError);
    expect(() => toFloat16(new Float64Array(2) as unknown as Float32Array)).toThrowError(
      /^toFloat16: data must be a Float32Array, got Float64Array$/,
    );
    expect(() => fromFloat16([1, 2] as unknown as Uint16Array)).toThrowError(/^fromFloat16: bits must be a Uint16Array, got Array$/);
  });
});

// ---------------------------------------------------------------------------
// bfloat16
// ---------------------------------------------------------------------------

describe("bfloat16 conversion", () => {
  it("decodes all 65536 patterns exactly", () => {
    const decoded = fromBFloat16(ALL_PATTERNS);
    const wrong: string[] = [];
    for (let bits = 0; bits < 65536 && wrong.length < 10; bits++) {
      const expected = referenceValue(bits, BFLOAT16);
      const scalar = bfloat16BitsToFloat32(bits);
      if (!Object.is(scalar, expected)) wrong.push(`scalar ${hex(bits)}: expected ${expected}, got ${scalar}`);
      if (!Object.is(decoded[bits], expected)) wrong.push(`bulk ${hex(bits)}: expected ${expected}, got ${decoded[bits]}`);
    }
    expect(wrong).toEqual([]);
  });

  it("round-trips all 65536 patterns", () => {
    const wrong: string[] = [];
    for (let bits = 0; bits < 65536 && wrong.length < 10; bits++) {
      const back = float32ToBFloat16Bits(bfloat16BitsToFloat32(bits));
      const ok = isNaNPattern(bits, BFLOAT16) ? isQuietNaNPattern(back, BFLOAT16) : back === bits;
      if (!ok) wrong.push(`${hex(bits)} came back as ${hex(back)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("decodes signaling NaN as quiet NaN", () => {
    const decoded = fromBFloat16(Uint16Array.of(0x7f81, 0xffa5, 0x7fc0));
    expect(Array.from(new Uint32Array(decoded.buffer), (bits) => bits.toString(16))).toEqual(["7fc10000", "ffe50000", "7fc00000"]);
  });

  it("bulk round trip keeps NaN sign and payload", () => {
    const back = toBFloat16(fromBFloat16(ALL_PATTERNS));
    const wrong: string[] = [];
    for (let bits = 0; bits < 65536 && wrong.length < 10; bits++) {
      const expected = isNaNPattern(bits, BFLOAT16) ? bits | 0x0040 : bits;
      if (back[bits] !== expected) wrong.push(`${hex(bits)} came back as ${hex(back[bits]!)}, expected ${hex(expected)}`);
    }
    expect(wrong).toEqual([]);
  });

  it.each([
    ["1", 1, 0x3f80],
    ["1 + 2^-8 (tie, down to even)", 1 + 2 ** -8, 0x3f80],
    ["1 + 3·2^-8 (tie, up to even)", 1 + 3 * 2 ** -8, 0x3f82],
    ["1 + 2^-8 + 2^-23 (above tie)", 1 + 2 ** -8 + 2 ** -23, 0x3f81],
    ["-(1 + 3·2^-8)", -(1 + 3 * 2 ** -8), 0xbf82],
    ["bfloat16 max", (2 - 2 ** -7) * 2 ** 127, 0x7f7f],
    ["(2 - 2^-8)·2^127 (tie, to Inf)", (2 - 2 ** -8) * 2 ** 127, 0x7f80],
    ["float32 max", 3.4028234663852886e38, 0x7f80],
    ["-float32 max", -3.4028234663852886e38, 0xff80],
    ["Infinity", Number.POSITIVE_INFINITY, 0x7f80],
    ["-Infinity", Number.NEGATIVE_INFINITY, 0xff80],
    ["0", 0, 0x0000],
    ["-0", -0, 0x8000],
    ["2^-126 (min normal)", 2 ** -126, 0x0080],
    ["2^-133 (min subnormal)", 2 ** -133, 0x0001],
    ["2^-134 (tie, to zero)", 2 ** -134, 0x0000],
    ["-2^-134 (tie, to -0)", -(2 ** -134), 0x8000],
    ["3·2^-134 (tie, up to even)", 3 * 2 ** -134, 0x0002],
    ["2^-134 + 2^-149 (above tie)", 2 ** -134 + 2 ** -149, 0x0001],
    ["float32 min subnormal", 2 ** -149, 0x0000],
    ["float32 max subnormal (up into normals)", 2 ** -126 - 2 ** -149, 0x0080],
    ["127.5·2^-133 (tie, up into normals)", 127.5 * 2 ** -133, 0x0080],
    ["126.5·2^-133 (tie in subnormals)", 126.5 * 2 ** -133, 0x007e],
  ])("rounds %s", (_name, x, expected) => {
    expect(hex(float32ToBFloat16Bits(x))).toBe(hex(expected));
    expect(hex(toBFloat16(Float32Array.of(x))[0]!)).toBe(hex(expected));
    expect(hex(float64ToBFloat16Bits(Math.fround(x)))).toBe(hex(expected));
  });

  it("turns NaN into a quiet NaN, never Infinity", () => {
    const inputs = new Float32Array(new Uint32Array([0x7f800001, 0xff800001, 0x7fc00000, 0x7fffffff, 0xffffffff]).buffer);
    expect(Array.from(toBFloat16(inputs), hex)).toEqual(["0x7fc0", "0xffc0", "0x7fc0", "0x7fff", "0xffff"]);
    expect(isQuietNaNPattern(float32ToBFloat16Bits(Number.NaN), BFLOAT16)).toBe(true);
    expect(hex(float64ToBFloat16Bits(Number.NaN))).toBe("0x7fc0");
  });

  it("matches the reference on 100,000 random float32 values", () => {
    const bits = randomFloat32Bits(100_000, 0x5eedbf, BFLOAT16, [0, 254]);
    const inputs = new Float32Array(bits.buffer);
    const scalar = Array.from(bits, (pattern) => float32ToBFloat16Bits(float32FromBits(pattern)));

    expect(compareWithReference(inputs, toBFloat16(inputs), BFLOAT16)).toEqual([]);
    expect(compareWithReference(inputs, scalar, BFLOAT16)).toEqual([]);
    expect(compareWithReference(inputs, Array.from(inputs, float64ToBFloat16Bits), BFLOAT16)).toEqual([]);
  });

  it("rounds random float64 values once", () => {
    // float64 exponent fields 880..1152 span 2^-143 to 2^129, the bfloat16 range with margin.
    const inputs = randomFloat64(100_000, 0xd0b1ebf, BFLOAT16, [880, 1152]);
    expect(compareWithReference(inputs, Array.from(inputs, float64ToBFloat16Bits), BFLOAT16)).toEqual([]);
  });

  it("float64 path avoids double rounding", () => {
    const x = 1 + 2 ** -8 + 2 ** -40;
    expect(hex(float64ToBFloat16Bits(x))).toBe("0x3f81");
    expect(hex(float32ToBFloat16Bits(x))).toBe("0x3f80");
  });

  it("bulk conversion rejects wrong array types", () => {
    expect(() => toBFloat16(new Uint16Array(2) as unknown as Float32Array)).toThrowError(
      /^toBFloat16: data must be a Float32Array, got Uint16Array$/,
    );
    expect(() => fromBFloat16(new Float32Array(2) as unknown as Uint16Array)).toThrowError(
      /^fromBFloat16: bits must be a Uint16Array, got Float32Array$/,
    );
  });
});

// ---------------------------------------------------------------------------
// castTensor
// ---------------------------------------------------------------------------

function catchError(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to throw");
}

describe("castTensor", () => {
  it("float32 to float16 keeps shape and rounds", () => {
    const source = Tensor.float32([2, 2], [1, 1 + 2 ** -11, 65520, -(2 ** -25)]);
    const result = castTensor(source, "float16");
    expect(result.shape).toEqual([2, 2]);
    expect(result.dtype).toBe("float16");
    expect(result.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(result.data, hex)).toEqual(["0x3c00", "0x3c00", "0x7c00", "0x8000"]);
  });

  it("float16 and bfloat16 decode to float32 and float64 exactly", () => {
    const half = new Tensor("float16", [3], Uint16Array.of(0x0001, 0x7bff, 0xc000));
    expect(Array.from(castTensor(half, "float32").data)).toEqual([2 ** -24, 65504, -2]);
    expect(Array.from(castTensor(half, "float64").data)).toEqual([2 ** -24, 65504, -2]);
    const brain = new Tensor("bfloat16", [2], Uint16Array.of(0x0001, 0x7f7f));
    expect(Array.from(castTensor(brain, "float64").data)).toEqual([2 ** -133, (2 - 2 ** -7) * 2 ** 127]);
  });

  it("float64 to 16-bit formats rounds once", () => {
    const source = Tensor.float64([2], [1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -8 + 2 ** -40]);
    expect(Array.from(castTensor(source, "float16").data, hex)).toEqual(["0x3c01", "0x3c04"]);
    expect(Array.from(castTensor(source, "bfloat16").data, hex)).toEqual(["0x3f80", "0x3f81"]);
  });

  it("float64 to float32 rounds to nearest even", () => {
    const source = Tensor.float64([3], [1 + 2 ** -24, 1 + 3 * 2 ** -24, 1 + 2 ** -24 + 2 ** -50]);
    expect(Array.from(castTensor(source, "float32").data)).toEqual([1, 1 + 2 ** -22, 1 + 2 ** -23]);
  });

  it("float16 and bfloat16 convert into each other", () => {
    // 65504 has 11 significant bits. At 8 bits it rounds up to 2^16, which float16 cannot hold.
    const half = new Tensor("float16", [2], Uint16Array.of(0x7bff, 0x3c01));
    const brain = castTensor(half, "bfloat16");
    expect(Array.from(brain.data, hex)).toEqual(["0x4780", "0x3f80"]);
    expect(Array.from(castTensor(brain, "float16").data, hex)).toEqual(["0x7c00", "0x3c00"]);
  });

  it("int32 to floats rounds ties to even", () => {
    const source = Tensor.int32([4], [2049, 2051, 16777217, -16777219]);
    expect(Array.from(castTensor(source, "float16").data, hex)).toEqual(["0x6800", "0x6802", "0x7c00", "0xfc00"]);
    expect(Array.from(castTensor(source, "float32").data)).toEqual([2049, 2051, 16777216, -16777220]);
    expect(Array.from(castTensor(source, "float64").data)).toEqual([2049, 2051, 16777217, -16777219]);
  });

  it("int64 to floats rounds once", () => {
    // Number() rounds 2^60 + 2^36 + 1 to 2^60 + 2^36, a float32 tie, which would then go down to 2^60.
    const source = Tensor.int64([6], [2n ** 60n + 2n ** 36n + 1n, -(2n ** 60n + 2n ** 36n + 1n), 2n ** 60n + 2n ** 52n + 1n, 2n ** 53n + 1n, 2n ** 53n + 3n, -(2n ** 63n)]);
    const asFloat32 = castTensor(source, "float32").data;
    expect(asFloat32[0]).toBe(2 ** 60 + 2 ** 37);
    expect(asFloat32[1]).toBe(-(2 ** 60 + 2 ** 37));
    expect(asFloat32[5]).toBe(-(2 ** 63));
    expect(bfloat16BitsToFloat32(castTensor(source, "bfloat16").data[2]!)).toBe(2 ** 60 + 2 ** 53);
    const asFloat64 = castTensor(source, "float64").data;
    expect(asFloat64[3]).toBe(2 ** 53);
    expect(asFloat64[4]).toBe(2 ** 53 + 4);
    expect(Array.from(castTensor(Tensor.int64([2], [65519, -2049]), "float16").data, hex)).toEqual(["0x7bff", "0xe800"]);
  });

  it("floats to integers truncate toward zero", () => {
    const source = Tensor.float64([6], [1.9, -1.9, -0.5, 2147483647.9, -2147483648.5, 0]);
    expect(Array.from(castTensor(source, "int32").data)).toEqual([1, -1, 0, 2147483647, -2147483648, 0]);
    const wide = Tensor.float64([3], [2 ** 62, -(2 ** 63), -9.99]);
    expect(Array.from(castTensor(wide, "int64").data)).toEqual([2n ** 62n, -(2n ** 63n), -9n]);
    const half = new Tensor("float16", [2], Uint16Array.of(0x7bff, 0xbe00));
    expect(Array.from(castTensor(half, "int32").data)).toEqual([65504, -1]);
  });

  it("float to int32 rejects NaN, Infinity and out-of-range values", () => {
    const source = Tensor.float64([4], [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, 1]);
    const error = catchError(() => castTensor(source, "int32"));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(
      "castTensor: 3 of 4 float64 elements cannot be converted to int32 because they are NaN, infinite or outside [-2147483648, 2147483647] after truncation: element 0 is NaN, element 1 is Infinity, element 2 is 2147483648. Clamp or filter the values before casting.",
    );
    expect((error as InvalidArgumentError).details).toEqual({ source: "float64", target: "int32", invalidCount: 3 });
  });

  it("float to int64 lists the first five invalid elements", () => {
    const source = Tensor.float32([7], [2 ** 63, -Infinity, Number.NaN, Number.NaN, Number.NaN, Number.NaN, -(2 ** 63)]);
    expect(() => castTensor(source, "int64")).toThrowError(
      /^castTensor: 6 of 7 float32 elements cannot be converted to int64 .*\[-2\^63, 2\^63 - 1\].*element 0 is 9223372036854776000, element 1 is -Infinity, .*element 4 is NaN, and 1 more\./,
    );
  });

  it("converts between int32 and int64", () => {
    expect(Array.from(castTensor(Tensor.int32([2], [-5, 2147483647]), "int64").data)).toEqual([-5n, 2147483647n]);
    expect(Array.from(castTensor(Tensor.int64([2], [-(2n ** 31n), 42n]), "int32").data)).toEqual([-2147483648, 42]);
    expect(() => castTensor(Tensor.int64([2], [1n, 2n ** 31n]), "int32")).toThrowError(
      /^castTensor: 1 of 2 int64 elements cannot be converted to int32 because they are outside \[-2147483648, 2147483647\]: element 1 is 2147483648\./,
    );
  });

  it("same dtype returns a copy", () => {
    for (const source of [Tensor.float32([2], [1, 2]), new Tensor("float16", [1], Uint16Array.of(0x7c01)), Tensor.int64([1], [5n])]) {
      const result = castTensor(source, source.dtype);
      expect(result.data).not.toBe(source.data);
      expect(result.data).toEqual(source.data);
    }
  });

  it("keeps an empty tensor's shape", () => {
    const result = castTensor(Tensor.float32([0, 3]), "bfloat16");
    expect(result.shape).toEqual([0, 3]);
    expect(result.data).toEqual(new Uint16Array(0));
  });

  it("rejects unsupported dtypes", () => {
    const flags = new Tensor("bool", [2], Uint8Array.of(1, 0));
    const error = catchError(() => castTensor(flags, "float32"));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(
      "castTensor cannot cast bool to float32. Both dtypes must be one of float32, float64, float16, bfloat16, int32, int64.",
    );
    expect(() => castTensor(Tensor.float32([1], [1]), "uint8")).toThrowError(/^castTensor cannot cast float32 to uint8\./);
    expect(() => castTensor(Tensor.float32([1], [1]), "float8" as never)).toThrowError(/^castTensor: unknown dtype float8$/);
    expect(() => castTensor({ dtype: "float32" } as never, "float16")).toThrowError(/^castTensor: tensor must be a Tensor, got Object$/);
  });
});
