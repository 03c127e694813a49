import { describe, expect, it } from "vitest";

import { ALL_DTYPES, DTYPE_BYTES, allocate, dtypeFromOnnx, isDType, isFloatDType, matchesDType } from "./dtype.js";
import { InvalidArgumentError, LccError, ShapeError } from "./errors.js";
import { Tensor, formatShape, shapeSize } from "./tensor.js";

/** Runs `action` and returns what it throws, failing when it does not throw. */
function catchError(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`expected an Error, got ${String(error)}`);
  }
  throw new Error("expected the call to throw");
}

describe("Tensor constructor", () => {
  it("allocates zero-filled storage of the dtype's class", () => {
    const tensor = new Tensor("bfloat16", [2, 3]);
    expect(tensor.shape).toEqual([2, 3]);
    expect(tensor.dtype).toBe("bfloat16");
    expect(tensor.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(tensor.data)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(tensor.size).toBe(6);
    expect(tensor.rank).toBe(2);
  });

  it("handles scalars and empty dimensions", () => {
    const scalar = new Tensor("int64", []);
    expect(scalar.size).toBe(1);
    expect(scalar.rank).toBe(0);
    expect(scalar.data).toEqual(new BigInt64Array(1));
    const empty = new Tensor("float32", [0, 4]);
    expect(empty.size).toBe(0);
    expect(empty.rank).toBe(2);
  });

  it("copies and freezes the shape", () => {
    const shape = [2, 2];
    const tensor = new Tensor("float32", shape);
    shape[0] = 7;
    expect(tensor.shape).toEqual([2, 2]);
    expect(Object.isFrozen(tensor.shape)).toBe(true);
  });

  it("keeps the given data without copying", () => {
    const data = Float64Array.of(1, 2, 3);
    expect(new Tensor("float64", [3], data).data).toBe(data);
  });

  it("rejects a negative dimension", () => {
    const error = catchError(() => new Tensor("float32", [2, -1]));
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.name).toBe("ShapeError");
    expect(error.message).toBe("tensor shape [2, -1] has an invalid dimension -1; dimensions must be non-negative integers");
  });

  it("rejects a fractional dimension", () => {
    const error = catchError(() => new Tensor("int32", [1.5]));
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toMatch(/^tensor shape \[1\.5\] has an invalid dimension 1\.5;/);
  });

  it("rejects data of the wrong length", () => {
    const error = catchError(() => new Tensor("float32", [2, 3], new Float32Array(5)));
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toBe("tensor of shape [2, 3] needs 6 elements but its data has 5");
  });

  it.each([
    ["float16", "Float32Array", new Float32Array(2)],
    ["float32", "Float64Array", new Float64Array(2)],
    ["int64", "Int32Array", new Int32Array(2)],
    ["int32", "Uint32Array", new Uint32Array(2)],
    ["bool", "Int8Array", new Int8Array(2)],
  ] as const)("rejects %s data in a %s", (dtype, className, data) => {
    const error = catchError(() => new Tensor(dtype, [2], data as never));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.name).toBe("InvalidArgumentError");
    expect(error.message).toBe(`a ${dtype} tensor cannot be stored in a ${className}`);
  });

  it("checks the array class before the length", () => {
    const error = catchError(() => new Tensor("float16", [4], new Float32Array(2) as never));
    expect(error).toBeInstanceOf(InvalidArgumentError);
  });

  it("rejects an unknown dtype", () => {
    const error = catchError(() => new Tensor("float8" as never, [1]));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe("unknown dtype float8");
  });

  it("raises errors that LccError.isInstance recognizes", () => {
    expect(LccError.isInstance(catchError(() => new Tensor("float32", [-3])))).toBe(true);
    expect(LccError.isInstance(new RangeError("other"))).toBe(false);
  });
});

describe("Tensor.reshape", () => {
  it("shares data under the new shape", () => {
    const tensor = Tensor.float32([2, 3], [0, 1, 2, 3, 4, 5]);
    const reshaped = tensor.reshape([3, 1, 2]);
    expect(reshaped.shape).toEqual([3, 1, 2]);
    expect(reshaped.dtype).toBe("float32");
    expect(reshaped.data).toBe(tensor.data);
    expect(tensor.shape).toEqual([2, 3]);
  });

  it("reshapes a single element to a scalar", () => {
    const scalar = Tensor.int32([1, 1], [42]).reshape([]);
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([42]);
  });

  it("rejects a different element count", () => {
    const error = catchError(() => Tensor.float32([2, 3]).reshape([4, 2]));
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toBe("cannot reshape [2, 3] (6 elements) to [4, 2]");
  });

  it("rejects a negative dimension even when the product matches", () => {
    const error = catchError(() => Tensor.float32([2, 3]).reshape([-2, -3]));
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toMatch(/^tensor shape \[-2, -3\] has an invalid dimension -2;/);
  });
});

describe("Tensor.int64", () => {
  it("converts number values", () => {
    const tensor = Tensor.int64([2, 2], [1, -2, 0, 2 ** 53]);
    expect(tensor.dtype).toBe("int64");
    expect(tensor.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(tensor.data)).toEqual([1n, -2n, 0n, 9007199254740992n]);
  });

  it("keeps bigint values beyond 2^53", () => {
    const tensor = Tensor.int64([3], [2n ** 63n - 1n, -(2n ** 63n), 9007199254740993n]);
    expect(Array.from(tensor.data)).toEqual([9223372036854775807n, -9223372036854775808n, 9007199254740993n]);
  });

  it("accepts mixed number and bigint values", () => {
    expect(Array.from(Tensor.int64([2], [7, 8n]).data)).toEqual([7n, 8n]);
  });

  it("zero-fills without values", () => {
    expect(Tensor.int64([2, 2]).data).toEqual(new BigInt64Array(4));
  });

  it("rejects a value count that does not match the shape", () => {
    const error = catchError(() => Tensor.int64([3], [1n, 2n]));
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toBe("tensor of shape [3] needs 3 elements but its data has 2");
  });
});

describe("Tensor factories", () => {
  it("float32 rounds values to float32", () => {
    const tensor = Tensor.float32([2], [0.1, 1 + 2 ** -24]);
    expect(tensor.data).toBeInstanceOf(Float32Array);
    expect(Array.from(tensor.data)).toEqual([Math.fround(0.1), 1]);
  });

  it("float64 and int32 keep their classes", () => {
    expect(Tensor.float64([1], [0.1]).data).toEqual(Float64Array.of(0.1));
    expect(Tensor.int32([2], [-1, 2 ** 31 - 1]).data).toEqual(Int32Array.of(-1, 2147483647));
  });

  it("scalar builds rank 0 tensors", () => {
    const single = Tensor.scalar(0.1);
    expect(single.shape).toEqual([]);
    expect(single.dtype).toBe("float32");
    expect(single.data[0]).toBe(Math.fround(0.1));
    const double = Tensor.scalar(0.1, "float64");
    expect(double.dtype).toBe("float64");
    expect(double.data[0]).toBe(0.1);
  });

  it("shapeSize and formatShape", () => {
    expect(shapeSize([])).toBe(1);
    expect(shapeSize([2, 3, 4])).toBe(24);
    expect(shapeSize([5, 0])).toBe(0);
    expect(formatShape([2, "T", 4])).toBe("[2, T, 4]");
  });
});

describe("dtype helpers", () => {
  it("allocates the storage class of each dtype", () => {
    const expected = {
      float32: Float32Array,
      float16: Uint16Array,
      bfloat16: Uint16Array,
      float64: Float64Array,
      int64: BigInt64Array,
      int32: Int32Array,
      int8: Int8Array,
      uint8: Uint8Array,
      bool: Uint8Array,
    } as const;
    for (const dtype of ALL_DTYPES) {
      const data = allocate(dtype, 3);
      expect(data, dtype).toBeInstanceOf(expected[dtype]);
      expect(data.length, dtype).toBe(3);
      expect(data.BYTES_PER_ELEMENT, dtype).toBe(DTYPE_BYTES[dtype]);
      expect(matchesDType(dtype, data), dtype).toBe(true);
    }
  });

  it("matchesDType rejects other classes", () => {
    expect(matchesDType("bfloat16", new Int16Array(1))).toBe(false);
    expect(matchesDType("bool", new Int8Array(1))).toBe(false);
    expect(matchesDType("int64", new BigUint64Array(1))).toBe(false);
    expect(matchesDType("float32", [1])).toBe(false);
  });

  it("maps ONNX data type codes", () => {
    expect(dtypeFromOnnx(1)).toBe("float32");
    expect(dtypeFromOnnx(7)).toBe("int64");
    expect(dtypeFromOnnx(10)).toBe("float16");
    expect(dtypeFromOnnx(16)).toBe("bfloat16");
    const error = catchError(() => dtypeFromOnnx(99));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/^ONNX data type 99 is not supported; supported codes: 1, 2, 3, 6, 7, 9, 10, 11, 16$/);
  });

  it("classifies dtypes", () => {
    expect(isDType("bfloat16")).toBe(true);
    expect(isDType("float8")).toBe(false);
    expect(isDType("toString")).toBe(false);
    expect(isDType(1)).toBe(false);
    expect(ALL_DTYPES.filter(isFloatDType)).toEqual(["float32", "float16", "bfloat16", "float64"]);
  });
});
