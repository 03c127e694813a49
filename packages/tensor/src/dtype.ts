/**
 * Element types of tensors and their storage.
 *
 * float16 and bfloat16 are stored as raw 16-bit patterns in a Uint16Array; use
 * `half.ts` to convert them to and from float32.
 */

import { InvalidArgumentError } from "./errors.js";

export type DType = "float32" | "float16" | "bfloat16" | "float64" | "int64" | "int32" | "int8" | "uint8" | "bool";

export interface DTypeArrays {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type TypedArrayFor<D extends DType> = DTypeArrays[D];
export type AnyTypedArray = DTypeArrays[DType];

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = Object.freeze({
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
});

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = Object.freeze({
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  bfloat16: 16,
});

export const ALL_DTYPES: readonly DType[] = Object.freeze(Object.keys(DTYPE_BYTES) as DType[]);

export function isFloatDType(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "bfloat16" || dtype === "float64";
}

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && Object.hasOwn(DTYPE_BYTES, value);
}

export function dtypeFromOnnx(code: number): DType {
  for (const [dtype, onnxCode] of Object.entries(ONNX_DTYPE)) {
    if (onnxCode === code) return dtype as DType;
  }
  throw new InvalidArgumentError(`ONNX data type ${code} is not supported; supported codes: ${Object.values(ONNX_DTYPE).join(", ")}`);
}

/** Allocates a zero-filled typed array of `size` elements for `dtype`. */
export function allocate<D extends DType>(dtype: D, size: number): TypedArrayFor<D> {
  switch (dtype) {
    case "float32":
      return new Float32Array(size) as TypedArrayFor<D>;
    case "float16":
    case "bfloat16":
      return new Uint16Array(size) as TypedArrayFor<D>;
    case "float64":
      return new Float64Array(size) as TypedArrayFor<D>;
    case "int64":
      return new BigInt64Array(size) as TypedArrayFor<D>;
    case "int32":
      return new Int32Array(size) as TypedArrayFor<D>;
    case "int8":
      return new Int8Array(size) as TypedArrayFor<D>;
    case "uint8":
    case "bool":
      return new Uint8Array(size) as TypedArrayFor<D>;
    default:
      throw new InvalidArgumentError(`unknown dtype ${String(dtype)}`);
  }
}

/** Returns true when `data` is the typed array class that stores `dtype`. */
export function matchesDType(dtype: DType, data: unknown): boolean {
  switch (dtype) {
    case "float32":
      return data instanceof Float32Array;
    case "float16":
    case "bfloat16":
      return data instanceof Uint16Array;
    case "float64":
      return data instanceof Float64Array;
    case "int64":
      return data instanceof BigInt64Array;
    case "int32":
      return data instanceof Int32Array;
    case "int8":
      return data instanceof Int8Array;
    case "uint8":
    case "bool":
      return data instanceof Uint8Array;
    default:
      return false;
  }
}
