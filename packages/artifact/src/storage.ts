/**
 * Conversions between float32 key/value tensors and their stored bytes, including int8
 * quantisation with one scale per channel.
 *
 * Legend: K buffer tokens, C = Hkv * Dh channels. A tensor [K, Hkv, Dh] is read as
 * [K, C], so channel c of token k is element k * C + c.
 *
 * int8 is symmetric: scale[c] = max_k |x[k, c]| / 127, rounded to float32, and
 * q[k, c] = round(x[k, c] / scale[c]) with ties away from zero, which lies in [-127, 127].
 * A channel of zeros gets scale 0 and q = 0. Dequantising computes q * scale[c] and
 * rounds it once to float32, so |x - q * scale| <= scale / 2 plus one float32 rounding.
 */

import { InvalidArgumentError, fromBFloat16, fromFloat16, toBFloat16, toFloat16 } from "@lcc/tensor";
import type { StorageDType } from "./types.js";

/** True on little-endian hosts, the byte order of every multi-byte value in a memory file. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export function bytesOf(data: Float32Array | Uint16Array | Int8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/** Per-channel int8 scales of `values` [K, C]: max |x| / 127 for each channel, as float32. */
export function int8Scales(values: Float32Array, channels: number): Float32Array {
  const maxAbs = new Float64Array(channels); // [C]
  for (let i = 0; i < values.length; i++) {
    const c = i % channels;
    const magnitude = Math.abs(values[i]!);
    if (magnitude > maxAbs[c]!) maxAbs[c] = magnitude;
  }

  const scales = new Float32Array(channels); // [C]
  for (let c = 0; c < channels; c++) scales[c] = maxAbs[c]! / 127;
  return scales;
}

/** Quantises `values` [K, C] with `scales` [C] to int8 in [-127, 127]. */
export function quantizeInt8(values: Float32Array, scales: Float32Array): Int8Array {
  const channels = scales.length;
  const quantized = new Int8Array(values.length); // [K, C]
  for (let i = 0; i < values.length; i++) {
    const scale = scales[i % channels]!;
    if (scale === 0) continue;

    // A scale rounded down to float32 can put |x| / scale a hair above 127, so clamp.
    const ratio = values[i]! / scale;
    const rounded = Math.sign(ratio) * Math.round(Math.abs(ratio));
    quantized[i] = Math.max(-127, Math.min(127, rounded));
  }
  return quantized;
}

/** Dequantises int8 `quantized` [K, C] with `scales` [C] to float32. */
export function dequantizeInt8(quantized: Int8Array, scales: Float32Array): Float32Array {
  const channels = scales.length;
  const values = new Float32Array(quantized.length); // [K, C]
  for (let i = 0; i < quantized.length; i++) values[i] = quantized[i]! * scales[i % channels]!;
  return values;
}

/** Index of the first element whose 16-bit float pattern is ±Infinity, or -1. */
function firstInfinity(bits: Uint16Array, infinityBits: number): number {
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i]! & 0x7fff) === infinityBits) return i;
  }
  return -1;
}

/**
 * Returns the stored bytes of the finite float32 `values` [K, C] in `dtype`, with the
 * scales for int8. float32 returns a view of `values`. The other dtypes allocate one
 * converted copy of this tensor.
 */
export function encodeStorage(values: Float32Array, dtype: StorageDType, scales: Float32Array | undefined, label: string): Uint8Array {
  switch (dtype) {
    case "float32":
      return bytesOf(values);

    case "float16":
    case "bfloat16": {
      const bits = dtype === "float16" ? toFloat16(values) : toBFloat16(values);
      const overflow = firstInfinity(bits, dtype === "float16" ? 0x7c00 : 0x7f80);
      if (overflow >= 0) {
        const range = dtype === "float16" ? "±65504" : "±3.39e38";
        throw new InvalidArgumentError(
          `${label} element ${overflow} is ${values[overflow]}, which is outside the ${dtype} range (${range}); store the memory as float32 or int8`,
          { details: { dtype, element: overflow } },
        );
      }
      return bytesOf(bits);
    }

    case "int8":
      if (scales === undefined) throw new Error("encodeStorage: int8 needs scales");
      return bytesOf(quantizeInt8(values, scales));
  }
}

// ---------------------------------------------------------------------------
// Decoding. `bytes` comes from an untrusted file but its length was already checked.
// ---------------------------------------------------------------------------

/**
 * Returns `bytes` if it starts at a multiple of `alignment` in its buffer, else an
 * aligned copy. The copy is made with the Uint8Array constructor because a Buffer's
 * `slice` returns a view, not a copy.
 */
function aligned(bytes: Uint8Array, alignment: number): Uint8Array {
  return bytes.byteOffset % alignment === 0 ? bytes : new Uint8Array(bytes);
}

/** Index of the first NaN or ±Infinity in `values`, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (value - value !== 0) return i;
  }
  return -1;
}

export type DecodedStorage = { ok: true; values: Float32Array } | { ok: false; problem: string };

/**
 * Widens or dequantises the stored bytes of one tensor to float32 values [K, C].
 * float32 data that is 4-byte aligned in its buffer comes back as a view of `bytes`,
 * with no copy. Non-finite values, int8 values of -128 and invalid scales are problems.
 */
export function decodeStorage(bytes: Uint8Array, dtype: StorageDType, scaleBytes: Uint8Array, label: string): DecodedStorage {
  let values: Float32Array;
  switch (dtype) {
    case "float32": {
      const source = aligned(bytes, 4);
      values = new Float32Array(source.buffer, source.byteOffset, source.length / 4);
      break;
    }

    case "float16":
    case "bfloat16": {
      const source = aligned(bytes, 2);
      const bits = new Uint16Array(source.buffer, source.byteOffset, source.length / 2);
      values = dtype === "float16" ? fromFloat16(bits) : fromBFloat16(bits);
      break;
    }

    case "int8": {
      const source = aligned(scaleBytes, 4);
      const scales = new Float32Array(source.buffer, source.byteOffset, source.length / 4); // [C]
      for (let c = 0; c < scales.length; c++) {
        const scale = scales[c]!;
        if (!(Number.isFinite(scale) && scale >= 0))
          return { ok: false, problem: `${label} scale ${c} is ${scale}; scales must be finite and non-negative` };
      }
      const quantized = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length); // [K, C]
      const outside = quantized.indexOf(-128);
      if (outside >= 0) return { ok: false, problem: `${label} element ${outside} is -128; int8 values must lie in [-127, 127]` };
      values = dequantizeInt8(quantized, scales);
      break;
    }
  }

  const nonFinite = firstNonFinite(values);
  if (nonFinite >= 0)
    return { ok: false, problem: `${label} element ${nonFinite} is ${values[nonFinite]}; keys and values must be finite` };
  return { ok: true, values };
}
