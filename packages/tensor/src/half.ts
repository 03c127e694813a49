/**
 * Conversions to and from the 16-bit float formats, and `castTensor` between dtypes.
 *
 * float16 is IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15) and 10 mantissa
 * bits. Its largest finite value is 65504 and its smallest subnormal is 2^-24.
 * bfloat16 is the upper half of a float32: 1 sign bit, 8 exponent bits (bias 127) and
 * 7 mantissa bits.
 *
 * Every conversion into a 16-bit format rounds its input to nearest, ties to even. The
 * `float32To*` functions and the bulk ones take float32 input (a JS number is rounded to
 * float32 first), and the `float64To*` functions round a float64 directly. Values past
 * the largest finite value overflow to ±Infinity, zeros keep their sign, and NaN stays
 * NaN: the result is a quiet NaN with the input's sign and top payload bits. Decoding
 * is exact, except that a signaling NaN comes back quiet.
 */

import { type DType, type TypedArrayFor, isDType } from "./dtype.js";
import { InvalidArgumentError } from "./errors.js";
import { Tensor } from "./tensor.js";

// ---------------------------------------------------------------------------
// Bit-level kernels. Their inputs and outputs are bit patterns in plain numbers.
// ---------------------------------------------------------------------------

/** Returns 1 when dropping `rest` from `truncated` must round up, to nearest with ties to even. */
function roundingIncrement(truncated: number, rest: number, halfway: number): number {
  return rest > halfway || (rest === halfway && (truncated & 1) === 1) ? 1 : 0;
}

function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;

  // NaN and ±Infinity. A NaN gets the quiet bit and keeps its top 9 payload bits.
  if (exponent === 0xff) {
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }

  // float16 exponent field of the same value. At 31 or more, |x| >= 2^16 overflows.
  const halfExponent = exponent - 112;
  if (halfExponent >= 31) return sign | 0x7c00;

  // Normal result: drop 13 mantissa bits. A carry out of the mantissa moves into the
  // exponent, which turns 65520 and above into Infinity (0x7c00).
  if (halfExponent >= 1) {
    const truncated = (halfExponent << 10) | (mantissa >>> 13);
    return sign | (truncated + roundingIncrement(truncated, mantissa & 0x1fff, 0x1000));
  }

  // Subnormal result in units of 2^-24. Below 2^-25 everything rounds to zero, and
  // 2^-25 itself is a tie that goes to the even zero. A carry into 0x400 gives the
  // smallest normal, 2^-14.
  if (halfExponent < -10) return sign;
  const significand = mantissa | 0x800000;
  const shift = 14 - halfExponent; // 14..24
  const truncated = significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  return sign | (truncated + roundingIncrement(truncated, rest, 1 << (shift - 1)));
}

function float16BitsToFloat32Bits(half: number): number {
  const sign = (half & 0x8000) << 16;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;

  if (exponent === 0x1f) {
    const nanBits = mantissa === 0 ? 0 : 0x400000 | (mantissa << 13);
    return (sign | 0x7f800000 | nanBits) >>> 0;
  }
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;

  // Subnormal: shift the leading 1 up to bit 10, where float32 keeps the implicit bit.
  const shift = Math.clz32(mantissa) - 21; // 1..10
  return (sign | ((113 - shift) << 23) | (((mantissa << shift) & 0x3ff) << 13)) >>> 0;
}

function float32BitsToBFloat16Bits(bits: number): number {
  // NaN: set the quiet bit and keep the top 6 payload bits.
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;

  // Drop the low 16 bits. float32 and bfloat16 share the exponent field, so the same
  // integer rounding covers subnormals, the step into the normals and overflow to Infinity.
  const truncated = bits >>> 16;
  return truncated + roundingIncrement(truncated, bits & 0xffff, 0x8000);
}

function bfloat16BitsToFloat32Bits(half: number): number {
  const bits = (half << 16) >>> 0;
  return (half & 0x7fff) > 0x7f80 ? (bits | 0x400000) >>> 0 : bits;
}

/**
 * Rounds the float64 with bit pattern `high`:`low` (upper and lower 32 bits) to a binary
 * format with `exponentBits` and `mantissaBits` in one step. Going through float32
 * instead would round twice, which can differ at ties.
 */
function float64BitsToSmallFloatBits(high: number, low: number, exponentBits: number, mantissaBits: number): number {
  const sign = (high >>> 31) << (exponentBits + mantissaBits);
  const exponent = (high >>> 20) & 0x7ff;
  const mantissaHigh = high & 0xfffff;
  const maxExponent = (1 << exponentBits) - 1;
  const infinity = maxExponent << mantissaBits;

  // NaN keeps its top payload bits and gets the quiet bit. Infinity stays Infinity.
  if (exponent === 0x7ff) {
    if (mantissaHigh === 0 && low === 0) return sign | infinity;
    return sign | infinity | (1 << (mantissaBits - 1)) | (mantissaHigh >>> (20 - mantissaBits));
  }

  // float64 zeros and subnormals (below 2^-1022) are far under either format's range.
  if (exponent === 0) return sign;

  const bias = (1 << (exponentBits - 1)) - 1;
  const targetExponent = exponent - 1023 + bias;
  if (targetExponent >= maxExponent) return sign | infinity;

  // `high` contains the top 21 significand bits (the implicit 1 and 20 mantissa bits).
  // Rounding drops `dropped` of them, one more per step below the normal range, and
  // all of `low`, which only decides ties (a sticky bit).
  const dropped = 20 - mantissaBits + Math.max(0, 1 - targetExponent);
  if (dropped > 21) return sign;
  const significand = mantissaHigh | 0x100000;
  const truncated = significand >>> dropped;
  const rest = significand & ((1 << dropped) - 1);
  const halfway = 1 << (dropped - 1);
  const increment = rest > halfway || (rest === halfway && (low !== 0 || (truncated & 1) === 1)) ? 1 : 0;

  // A normal `truncated` still has its implicit bit at 2^mantissaBits, which adds one to
  // the exponent field, so the base is targetExponent - 1. Carries propagate the same way.
  const base = targetExponent >= 1 ? (targetExponent - 1) << mantissaBits : 0;
  return sign | (base + truncated + increment);
}

// ---------------------------------------------------------------------------
// Scalar conversions
// ---------------------------------------------------------------------------

const scratch = new ArrayBuffer(8);
const scratchFloat32 = new Float32Array(scratch, 0, 1);
const scratchUint32 = new Uint32Array(scratch, 0, 1);
const scratchView = new DataView(scratch);

/** Index of the upper 32 bits of a float64 in a Uint32Array view, which depends on the platform's byte order. */
const FLOAT64_HIGH_WORD = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 1 : 0;

/**
 * Converts `x` to the bits of the nearest float16. `x` is first rounded to float32, as
 * storing it in a Float32Array would do. Use `float64ToFloat16Bits` for a float64 that
 * is not a float32 value, because rounding twice can differ at ties.
 */
export function float32ToFloat16Bits(x: number): number {
  scratchFloat32[0] = x;
  return float32BitsToFloat16Bits(scratchUint32[0]!);
}

/** Converts float16 bits (the low 16 bits of `bits`) to their exact value. */
export function float16BitsToFloat32(bits: number): number {
  scratchUint32[0] = float16BitsToFloat32Bits(bits & 0xffff);
  return scratchFloat32[0]!;
}

/**
 * Converts `x` to the bits of the nearest bfloat16. `x` is first rounded to float32, so
 * use `float64ToBFloat16Bits` for a float64 that is not a float32 value.
 */
export function float32ToBFloat16Bits(x: number): number {
  scratchFloat32[0] = x;
  return float32BitsToBFloat16Bits(scratchUint32[0]!);
}

/** Converts bfloat16 bits (the low 16 bits of `bits`) to their exact value. */
export function bfloat16BitsToFloat32(bits: number): number {
  scratchUint32[0] = bfloat16BitsToFloat32Bits(bits & 0xffff);
  return scratchFloat32[0]!;
}

/** Rounds the float64 `x` to the bits of the nearest float16 in a single rounding. */
export function float64ToFloat16Bits(x: number): number {
  scratchView.setFloat64(0, x);
  return float64BitsToSmallFloatBits(scratchView.getUint32(0), scratchView.getUint32(4), 5, 10);
}

/** Rounds the float64 `x` to the bits of the nearest bfloat16 in a single rounding. */
export function float64ToBFloat16Bits(x: number): number {
  scratchView.setFloat64(0, x);
  return float64BitsToSmallFloatBits(scratchView.getUint32(0), scratchView.getUint32(4), 8, 7);
}

// ---------------------------------------------------------------------------
// Bulk conversions. They read and write bit patterns through Uint32Array views of the
// float32 storage, so no NaN passes through a JS number and loses its payload.
// ---------------------------------------------------------------------------

function checkArray(functionName: string, parameter: string, value: unknown, expected: "Float32Array" | "Uint16Array"): void {
  const matches = expected === "Float32Array" ? value instanceof Float32Array : value instanceof Uint16Array;
  if (!matches) {
    const actual = typeof value === "object" && value !== null ? value.constructor.name : typeof value;
    throw new InvalidArgumentError(`${functionName}: ${parameter} must be a ${expected}, got ${actual}`);
  }
}

/** Converts float32 values to float16 bit patterns. */
export function toFloat16(data: Float32Array): Uint16Array {
  checkArray("toFloat16", "data", data, "Float32Array");
  const input = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const output = new Uint16Array(data.length);
  for (let i = 0; i < input.length; i++) output[i] = float32BitsToFloat16Bits(input[i]!);
  return output;
}

/** Converts float16 bit patterns to float32 values (exactly). */
export function fromFloat16(bits: Uint16Array): Float32Array {
  checkArray("fromFloat16", "bits", bits, "Uint16Array");
  const output = new Float32Array(bits.length);
  const outputBits = new Uint32Array(output.buffer);
  for (let i = 0; i < bits.length; i++) outputBits[i] = float16BitsToFloat32Bits(bits[i]!);
  return output;
}

/** Converts float32 values to bfloat16 bit patterns. */
export function toBFloat16(data: Float32Array): Uint16Array {
  checkArray("toBFloat16", "data", data, "Float32Array");
  const input = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const output = new Uint16Array(data.length);
  for (let i = 0; i < input.length; i++) output[i] = float32BitsToBFloat16Bits(input[i]!);
  return output;
}

/** Converts bfloat16 bit patterns to float32 values (exactly). */
export function fromBFloat16(bits: Uint16Array): Float32Array {
  checkArray("fromBFloat16", "bits", bits, "Uint16Array");
  const output = new Float32Array(bits.length);
  const outputBits = new Uint32Array(output.buffer);
  for (let i = 0; i < bits.length; i++) outputBits[i] = bfloat16BitsToFloat32Bits(bits[i]!);
  return output;
}

// ---------------------------------------------------------------------------
// castTensor
// ---------------------------------------------------------------------------

const FLOAT_DTYPES = ["float32", "float64", "float16", "bfloat16"] as const;
const INTEGER_DTYPES = ["int32", "int64"] as const;
type CastFloatDType = (typeof FLOAT_DTYPES)[number];
type CastIntegerDType = (typeof INTEGER_DTYPES)[number];
type CastDType = CastFloatDType | CastIntegerDType;

/** Significant bits of each float dtype, used to round int64 values once. */
const PRECISION: Readonly<Record<CastFloatDType, number>> = { float64: 53, float32: 24, float16: 11, bfloat16: 8 };

/** Range of each integer dtype: min <= value < maxExclusive. */
const INTEGER_RANGE: Readonly<Record<CastIntegerDType, { min: number; maxExclusive: number; text: string }>> = {
  int32: { min: -(2 ** 31), maxExclusive: 2 ** 31, text: "[-2147483648, 2147483647]" },
  int64: { min: -(2 ** 63), maxExclusive: 2 ** 63, text: "[-2^63, 2^63 - 1]" },
};

function isCastDType(dtype: DType): dtype is CastDType {
  return (FLOAT_DTYPES as readonly DType[]).includes(dtype) || (INTEGER_DTYPES as readonly DType[]).includes(dtype);
}

function isFloatCastDType(dtype: CastDType): dtype is CastFloatDType {
  return (FLOAT_DTYPES as readonly DType[]).includes(dtype);
}

/**
 * Converts an int64 to the nearest number with at most `precision` significant bits
 * (ties to even). Rounding the bigint to the target precision first means the later
 * conversion to that format is exact, so the value is rounded only once.
 */
function roundInt64(value: bigint, precision: number): number {
  const magnitude = value < 0n ? -value : value;
  if (magnitude <= 2n ** 53n) return Number(value);

  const shift = BigInt(magnitude.toString(2).length - precision);
  const unit = 1n << shift;
  const rest = magnitude & (unit - 1n);
  const halfway = unit >> 1n;
  let truncated = magnitude >> shift;
  if (rest > halfway || (rest === halfway && (truncated & 1n) === 1n)) truncated += 1n;
  const rounded = Number(truncated << shift);
  return value < 0n ? -rounded : rounded;
}

function float64ArrayToSmallFloatBits(values: Float64Array, exponentBits: number, mantissaBits: number): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  const output = new Uint16Array(values.length);
  const highWord = FLOAT64_HIGH_WORD;
  const lowWord = 1 - highWord;
  for (let i = 0; i < values.length; i++) {
    output[i] = float64BitsToSmallFloatBits(words[2 * i + highWord]!, words[2 * i + lowWord]!, exponentBits, mantissaBits);
  }
  return output;
}

/** Encodes float64 values as `dtype`, rounding each value once. */
function encodeFloat64(values: Float64Array, dtype: CastFloatDType): TypedArrayFor<CastFloatDType> {
  switch (dtype) {
    case "float64":
      return values.slice();
    case "float32":
      return Float32Array.from(values);
    case "float16":
      return float64ArrayToSmallFloatBits(values, 5, 10);
    case "bfloat16":
      return float64ArrayToSmallFloatBits(values, 8, 7);
  }
}

/** Encodes float32 values as `dtype`, rounding each value once. */
function encodeFloat32(values: Float32Array, dtype: CastFloatDType): TypedArrayFor<CastFloatDType> {
  switch (dtype) {
    case "float32":
      return values.slice();
    case "float64":
      return Float64Array.from(values);
    case "float16":
      return toFloat16(values);
    case "bfloat16":
      return toBFloat16(values);
  }
}

/** Decodes a float tensor's storage to float32 or float64 values without rounding. */
function decodeFloat(tensor: Tensor, dtype: CastFloatDType): Float32Array | Float64Array {
  switch (dtype) {
    case "float32":
      return tensor.data as Float32Array;
    case "float64":
      return tensor.data as Float64Array;
    case "float16":
      return fromFloat16(tensor.data as Uint16Array);
    case "bfloat16":
      return fromBFloat16(tensor.data as Uint16Array);
  }
}

/** Builds the error for elements that do not fit the target integer dtype, listing the first five. */
function outOfRangeError(source: DType, target: CastIntegerDType, total: number, invalid: readonly string[], invalidCount: number): InvalidArgumentError {
  const more = invalidCount > invalid.length ? `, and ${invalidCount - invalid.length} more` : "";
  const reason = isFloatCastDType(source as CastDType) ? `are NaN, infinite or outside ${INTEGER_RANGE[target].text} after truncation` : `are outside ${INTEGER_RANGE[target].text}`;
  return new InvalidArgumentError(
    `castTensor: ${invalidCount} of ${total} ${source} elements cannot be converted to ${target} because they ${reason}: ${invalid.join(", ")}${more}. Clamp or filter the values before casting.`,
    { details: { source, target, invalidCount } },
  );
}

/** Truncates each value toward zero and rejects NaN, ±Infinity and values outside the integer range. */
function truncateToInteger(values: Float32Array | Float64Array, source: DType, target: CastIntegerDType): Int32Array | BigInt64Array {
  const { min, maxExclusive } = INTEGER_RANGE[target];
  const output = target === "int32" ? new Int32Array(values.length) : new BigInt64Array(values.length);
  const invalid: string[] = [];
  let invalidCount = 0;

  for (let i = 0; i < values.length; i++) {
    const truncated = Math.trunc(values[i]!);
    // NaN fails both comparisons.
    if (!(truncated >= min && truncated < maxExclusive)) {
      invalidCount++;
      if (invalid.length < 5) invalid.push(`element ${i} is ${values[i]}`);
    } else if (output instanceof Int32Array) {
      output[i] = truncated;
    } else {
      output[i] = BigInt(truncated);
    }
  }

  if (invalidCount > 0) throw outOfRangeError(source, target, values.length, invalid, invalidCount);
  return output;
}

function castInt64ToInt32(data: BigInt64Array): Int32Array {
  const output = new Int32Array(data.length);
  const invalid: string[] = [];
  let invalidCount = 0;

  for (let i = 0; i < data.length; i++) {
    const value = data[i]!;
    if (value < -(2n ** 31n) || value >= 2n ** 31n) {
      invalidCount++;
      if (invalid.length < 5) invalid.push(`element ${i} is ${value}`);
    } else {
      output[i] = Number(value);
    }
  }

  if (invalidCount > 0) throw outOfRangeError("int64", "int32", data.length, invalid, invalidCount);
  return output;
}

function castIntegerToFloat(tensor: Tensor, source: CastIntegerDType, target: CastFloatDType): TypedArrayFor<CastFloatDType> {
  // Every int32 is exact in a float64, so encoding rounds once.
  if (source === "int32") return encodeFloat64(Float64Array.from(tensor.data as Int32Array), target);

  const precision = PRECISION[target];
  return encodeFloat64(Float64Array.from(tensor.data as BigInt64Array, (value) => roundInt64(value, precision)), target);
}

/**
 * Returns a new tensor with the same shape and each element converted to `dtype`.
 *
 * Supported dtypes are float32, float64, float16, bfloat16, int32 and int64, in any
 * pair. Conversions to a float dtype round once to nearest, ties to even, also from
 * float64 and int64 (never through float32 first). Conversions from a float dtype to an
 * integer dtype truncate toward zero, like C and ONNX Cast. NaN, ±Infinity and values
 * outside the integer range raise InvalidArgumentError, and so do int64 values outside
 * the int32 range. The result never shares data with the input, even when `dtype` is
 * the input's dtype.
 */
export function castTensor<D extends DType>(tensor: Tensor, dtype: D): Tensor<D> {
  if (!(tensor instanceof Tensor)) {
    const actual = typeof tensor === "object" && tensor !== null ? (tensor as object).constructor.name : String(tensor);
    throw new InvalidArgumentError(`castTensor: tensor must be a Tensor, got ${actual}`);
  }
  if (!isDType(dtype)) throw new InvalidArgumentError(`castTensor: unknown dtype ${String(dtype)}`);
  const source = tensor.dtype;
  if (!isCastDType(source) || !isCastDType(dtype)) {
    const supported = [...FLOAT_DTYPES, ...INTEGER_DTYPES].join(", ");
    throw new InvalidArgumentError(`castTensor cannot cast ${source} to ${dtype}. Both dtypes must be one of ${supported}.`, {
      details: { source, target: dtype },
    });
  }

  let data: TypedArrayFor<CastDType>;
  if (source === dtype) {
    data = tensor.data.slice() as TypedArrayFor<CastDType>;
  } else if (isFloatCastDType(source)) {
    const values = decodeFloat(tensor, source);
    if (!isFloatCastDType(dtype)) data = truncateToInteger(values, source, dtype);
    else data = values instanceof Float64Array ? encodeFloat64(values, dtype) : encodeFloat32(values, dtype);
  } else if (isFloatCastDType(dtype)) {
    data = castIntegerToFloat(tensor, source, dtype);
  } else if (source === "int32") {
    data = BigInt64Array.from(tensor.data as Int32Array, (value) => BigInt(value));
  } else {
    data = castInt64ToInt32(tensor.data as BigInt64Array);
  }
  return new Tensor(dtype, tensor.shape, data as TypedArrayFor<D>);
}
