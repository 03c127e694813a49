/**
 * A dense, row-major tensor: a dtype, a shape and a typed array.
 */

import { type AnyTypedArray, type DType, type TypedArrayFor, allocate, isDType, matchesDType } from "./dtype.js";
import { InvalidArgumentError, ShapeError } from "./errors.js";

export type Shape = readonly number[];

export function shapeSize(shape: Shape): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

export function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(", ")}]`;
}

export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: Shape;
  readonly data: TypedArrayFor<D>;

  constructor(dtype: D, shape: Shape, data?: TypedArrayFor<D>) {
    if (!isDType(dtype)) throw new InvalidArgumentError(`unknown dtype ${String(dtype)}`);
    for (const dim of shape) {
      if (!Number.isInteger(dim) || dim < 0) {
        throw new ShapeError(`tensor shape ${formatShape(shape)} has an invalid dimension ${dim}; dimensions must be non-negative integers`);
      }
    }
    const size = shapeSize(shape);
    const storage = data ?? allocate(dtype, size);
    if (!matchesDType(dtype, storage)) {
      throw new InvalidArgumentError(`a ${dtype} tensor cannot be stored in a ${storage.constructor.name}`);
    }
    if (storage.length !== size) {
      throw new ShapeError(`tensor of shape ${formatShape(shape)} needs ${size} elements but its data has ${storage.length}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = storage;
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Returns a tensor sharing this one's data with another shape of the same size. */
  reshape(shape: Shape): Tensor<D> {
    if (shapeSize(shape) !== this.size) {
      throw new ShapeError(`cannot reshape ${formatShape(this.shape)} (${this.size} elements) to ${formatShape(shape)}`);
    }
    return new Tensor(this.dtype, shape, this.data);
  }

  static float32(shape: Shape, values?: ArrayLike<number>): Tensor<"float32"> {
    return new Tensor("float32", shape, values === undefined ? undefined : Float32Array.from(values));
  }

  static float64(shape: Shape, values?: ArrayLike<number>): Tensor<"float64"> {
    return new Tensor("float64", shape, values === undefined ? undefined : Float64Array.from(values));
  }

  static int64(shape: Shape, values?: ArrayLike<number | bigint>): Tensor<"int64"> {
    const data = new BigInt64Array(values?.length ?? shapeSize(shape));
    if (values !== undefined) for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i] as number | bigint);
    return new Tensor("int64", shape, data);
  }

  static int32(shape: Shape, values?: ArrayLike<number>): Tensor<"int32"> {
    return new Tensor("int32", shape, values === undefined ? undefined : Int32Array.from(values));
  }

  static scalar(value: number, dtype: "float32" | "float64" = "float32"): Tensor {
    return dtype === "float32" ? Tensor.float32([], [value]) : Tensor.float64([], [value]);
  }
}

export type { AnyTypedArray };
