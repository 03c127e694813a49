/**
 * Operators that move, select or reshape data without arithmetic.
 * https://onnx.ai/onnx/operators/ (Reshape, Transpose, Concat, Slice, Split, Gather,
 * GatherElements, ScatterND, ScatterElements, Unsqueeze, Squeeze, Expand, Shape,
 * ConstantOfShape)
 */

import { GraphError } from "../errors.js";
import { type Dim, type OpDefinition, type Value, attr } from "../graph.js";
import { Tensor, formatShape } from "../tensor.js";
import {
  addDims,
  broadcastShapes,
  constantInts,
  freshDim,
  intAttr,
  intsAttr,
  mulDims,
  normalizeAxis,
  required,
  requireConstantInts,
} from "./infer.js";

// Reshape: a target of 0 copies the input's dimension, -1 takes what is left.
export const Reshape: OpDefinition = {
  opType: "Reshape",
  infer(inputs) {
    const x = required(inputs, 0, "data");
    const shapeInput = required(inputs, 1, "shape");
    const target = constantInts(shapeInput);
    if (target === undefined) {
      const rank = shapeInput.shape[0];
      if (typeof rank !== "number") throw new GraphError("a dynamic Reshape target needs a known length");
      if (shapeInput.producer?.op.opType === "Shape") {
        const source = shapeInput.producer.inputs[0] as Value;
        return [{ dtype: x.dtype, shape: source.shape }];
      }
      return [{ dtype: x.dtype, shape: Array.from({ length: rank }, () => freshDim("reshape")) }];
    }
    const shape: Dim[] = target.map((d, i) => (d === 0 ? (x.shape[i] as Dim) : d));
    const inferred = shape.indexOf(-1);
    if (inferred >= 0) {
      const known = shape.filter((_, i) => i !== inferred);
      const total = mulDims(x.shape);
      const knownSize = mulDims(known);
      if (typeof total === "number" && typeof knownSize === "number") {
        if (knownSize === 0 || total % knownSize !== 0) {
          throw new GraphError(`cannot reshape ${formatShape(x.shape)} to ${formatShape(target)}`);
        }
        shape[inferred] = total / knownSize;
      } else {
        shape[inferred] = simplifyQuotient(x.shape, known);
      }
    } else {
      const total = mulDims(x.shape);
      const size = mulDims(shape);
      if (typeof total === "number" && typeof size === "number" && total !== size) {
        throw new GraphError(`cannot reshape ${formatShape(x.shape)} (${total} elements) to ${formatShape(shape)} (${size})`);
      }
    }
    return [{ dtype: x.dtype, shape }];
  },
};

/** Cancels common factors of two dimension lists; a fresh symbol when they do not divide. */
function simplifyQuotient(numerator: readonly Dim[], denominator: readonly Dim[]): Dim {
  const rest = [...numerator];
  let divisor = 1;
  for (const d of denominator) {
    const index = rest.indexOf(d);
    if (index >= 0) rest.splice(index, 1);
    else if (typeof d === "number") divisor *= d;
    else return freshDim("reshape");
  }
  const numeric = rest.filter((d) => typeof d === "number").reduce((a, b) => (a as number) * (b as number), 1) as number;
  if (numeric % divisor !== 0) return freshDim("reshape");
  return mulDims([...rest.filter((d) => typeof d === "string"), numeric / divisor]);
}

export function reshape(x: Value, shape: readonly number[] | Value): Value {
  const target = Array.isArray(shape) ? x.graph.ints(shape) : (shape as Value);
  return x.graph.add(Reshape, [x, target])[0] as Value;
}

export const Transpose: OpDefinition = {
  opType: "Transpose",
  infer(inputs, attributes) {
    const x = required(inputs, 0, "data");
    const perm = intsAttr(attributes, "perm") ?? x.shape.map((_, i) => x.rank - 1 - i);
    if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      throw new GraphError(`perm ${formatShape(perm)} is not a permutation of rank ${x.rank}`);
    }
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p] as Dim) }];
  },
};

export const transpose = (x: Value, perm: readonly number[]): Value =>
  x.graph.add(Transpose, [x], { perm: attr.ints(perm) })[0] as Value;

export const Concat: OpDefinition = {
  opType: "Concat",
  infer(inputs, attributes) {
    const values = inputs.map((v, i) => required(inputs, i, "inputs"));
    const first = values[0];
    if (first === undefined) throw new GraphError("Concat needs at least one input");
    const axis = normalizeAxis(intAttr(attributes, "axis"), first.rank);
    for (const v of values) {
      if (v.rank !== first.rank || v.dtype !== first.dtype) {
        throw new GraphError(`inputs must share rank and dtype: ${values.map(String).join(", ")}`);
      }
    }
    const shape = first.shape.map((d, i) => (i === axis ? addDims(values.map((v) => v.shape[i] as Dim)) : d));
    return [{ dtype: first.dtype, shape }];
  },
};

export const concat = (values: readonly Value[], axis: number): Value =>
  (values[0] as Value).graph.add(Concat, values, { axis: attr.int(axis) })[0] as Value;

// Slice with constant starts, ends, axes and steps.
export const Slice: OpDefinition = {
  opType: "Slice",
  infer(inputs) {
    const x = required(inputs, 0, "data");
    const starts = requireConstantInts(inputs[1], "starts");
    const ends = requireConstantInts(inputs[2], "ends");
    const axes = inputs[3] ? requireConstantInts(inputs[3], "axes") : starts.map((_, i) => i);
    const steps = inputs[4] ? requireConstantInts(inputs[4], "steps") : starts.map(() => 1);
    const shape = [...x.shape];
    axes.forEach((a, i) => {
      const axis = normalizeAxis(a, x.rank);
      const dim = x.shape[axis] as Dim;
      const step = steps[i] as number;
      if (step === 0) throw new GraphError("Slice steps must not be 0");
      shape[axis] = typeof dim === "number" ? sliceLength(dim, starts[i] as number, ends[i] as number, step) : freshDim("slice");
    });
    return [{ dtype: x.dtype, shape }];
  },
};

function sliceLength(dim: number, start: number, end: number, step: number): number {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, 0, dim - 1);
  e = clamp(e, -1, dim - 1);
  return Math.max(0, Math.ceil((s - e) / -step));
}

/** Slices `[start, end)` along each of `axes` (INT64_MAX-like ends are clamped). */
export function slice(x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): Value {
  const g = x.graph;
  const inputs = [x, g.ints(starts), g.ints(ends), g.ints(axes)];
  if (steps !== undefined) inputs.push(g.ints(steps));
  return g.add(Slice, inputs)[0] as Value;
}

export const Split: OpDefinition = {
  opType: "Split",
  infer(inputs, attributes) {
    const x = required(inputs, 0, "input");
    const sizes = requireConstantInts(inputs[1], "split");
    const axis = normalizeAxis(intAttr(attributes, "axis", 0), x.rank);
    const dim = x.shape[axis] as Dim;
    const total = sizes.reduce((a, b) => a + b, 0);
    if (typeof dim === "number" && total !== dim) throw new GraphError(`split sizes ${formatShape(sizes)} do not add up to ${dim}`);
    return sizes.map((size) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? size : d)) }));
  },
};

export const split = (x: Value, sizes: readonly number[], axis: number): Value[] =>
  x.graph.add(Split, [x, x.graph.ints(sizes)], { axis: attr.int(axis) });

// Gather: data [..., N, ...] indexed along `axis` by indices of any shape.
export const Gather: OpDefinition = {
  opType: "Gather",
  infer(inputs, attributes) {
    const data = required(inputs, 0, "data");
    const indices = required(inputs, 1, "indices");
    if (indices.dtype !== "int64" && indices.dtype !== "int32") throw new GraphError(`indices must be int64 or int32, got ${indices.dtype}`);
    const axis = normalizeAxis(intAttr(attributes, "axis", 0), data.rank);
    const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
    return [{ dtype: data.dtype, shape }];
  },
};

export const gather = (data: Value, indices: Value, axis = 0): Value =>
  data.graph.add(Gather, [data, indices], { axis: attr.int(axis) })[0] as Value;

export const GatherElements: OpDefinition = {
  opType: "GatherElements",
  infer(inputs, attributes) {
    const data = required(inputs, 0, "data");
    const indices = required(inputs, 1, "indices");
    normalizeAxis(intAttr(attributes, "axis", 0), data.rank);
    if (indices.rank !== data.rank) throw new GraphError("indices must have the rank of data");
    return [{ dtype: data.dtype, shape: indices.shape }];
  },
};

export const gatherElements = (data: Value, indices: Value, axis: number): Value =>
  data.graph.add(GatherElements, [data, indices], { axis: attr.int(axis) })[0] as Value;

export const ScatterElements: OpDefinition = {
  opType: "ScatterElements",
  infer(inputs) {
    const data = required(inputs, 0, "data");
    required(inputs, 1, "indices");
    required(inputs, 2, "updates");
    return [{ dtype: data.dtype, shape: data.shape }];
  },
};

/** Adds `updates` into a copy of `data` at `indices` along `axis`. */
export const scatterElementsAdd = (data: Value, indices: Value, updates: Value, axis: number): Value =>
  data.graph.add(ScatterElements, [data, indices, updates], { axis: attr.int(axis), reduction: attr.string("add") })[0] as Value;

export const ScatterND: OpDefinition = {
  opType: "ScatterND",
  infer(inputs) {
    const data = required(inputs, 0, "data");
    required(inputs, 1, "indices");
    required(inputs, 2, "updates");
    return [{ dtype: data.dtype, shape: data.shape }];
  },
};

/** Adds `updates` into a copy of `data` at the index tuples in `indices` (last axis). */
export const scatterNDAdd = (data: Value, indices: Value, updates: Value): Value =>
  data.graph.add(ScatterND, [data, indices, updates], { reduction: attr.string("add") })[0] as Value;

export const Unsqueeze: OpDefinition = {
  opType: "Unsqueeze",
  infer(inputs) {
    const x = required(inputs, 0, "data");
    const rank = x.rank + requireConstantInts(inputs[1], "axes").length;
    const axes = requireConstantInts(inputs[1], "axes").map((a) => normalizeAxis(a, rank));
    const shape: Dim[] = [];
    let source = 0;
    for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : (x.shape[source++] as Dim));
    return [{ dtype: x.dtype, shape }];
  },
};

export const unsqueeze = (x: Value, axes: readonly number[]): Value => x.graph.add(Unsqueeze, [x, x.graph.ints(axes)])[0] as Value;

export const Squeeze: OpDefinition = {
  opType: "Squeeze",
  infer(inputs) {
    const x = required(inputs, 0, "data");
    const axes = requireConstantInts(inputs[1], "axes").map((a) => normalizeAxis(a, x.rank));
    for (const a of axes) {
      const dim = x.shape[a];
      if (typeof dim === "number" && dim !== 1) throw new GraphError(`cannot squeeze axis ${a} of size ${dim}`);
    }
    return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !axes.includes(i)) }];
  },
};

export const squeeze = (x: Value, axes: readonly number[]): Value => x.graph.add(Squeeze, [x, x.graph.ints(axes)])[0] as Value;

export const Expand: OpDefinition = {
  opType: "Expand",
  infer(inputs) {
    const x = required(inputs, 0, "input");
    const shapeInput = required(inputs, 1, "shape");
    const target = constantInts(shapeInput);
    if (target !== undefined) return [{ dtype: x.dtype, shape: broadcastShapes([x.shape, target]) }];
    if (shapeInput.producer?.op.opType === "Shape") {
      const source = shapeInput.producer.inputs[0] as Value;
      return [{ dtype: x.dtype, shape: broadcastShapes([x.shape, source.shape]) }];
    }
    throw new GraphError("Expand needs a constant shape or the output of Shape");
  },
};

/** Broadcasts `x` to `shape` (constant dims, or another value's runtime shape). */
export function expand(x: Value, shape: readonly number[] | Value): Value {
  const target = Array.isArray(shape) ? x.graph.ints(shape) : shapeOf(shape as Value);
  return x.graph.add(Expand, [x, target])[0] as Value;
}

export const Shape: OpDefinition = {
  opType: "Shape",
  infer(inputs) {
    const x = required(inputs, 0, "data");
    return [{ dtype: "int64", shape: [x.rank] }];
  },
};

export const shapeOf = (x: Value): Value => x.graph.add(Shape, [x])[0] as Value;

export const ConstantOfShape: OpDefinition = {
  opType: "ConstantOfShape",
  infer(inputs, attributes) {
    const shapeInput = required(inputs, 0, "input");
    const value = attributes.value;
    if (value === undefined || value.kind !== "tensor") throw new GraphError("ConstantOfShape needs a 'value' tensor attribute");
    const source = shapeInput.producer?.op.opType === "Shape" ? (shapeInput.producer.inputs[0] as Value).shape : undefined;
    const constant = constantInts(shapeInput);
    const shape = source ?? constant;
    if (shape === undefined) throw new GraphError("ConstantOfShape needs a constant shape or the output of Shape");
    return [{ dtype: value.value.dtype, shape }];
  },
};

/** A tensor of zeros with the runtime shape and dtype of `like`. */
export function zerosLike(like: Value): Value {
  const g = like.graph;
  const zero = like.dtype === "float64" ? Tensor.float64([1], [0]) : like.dtype === "int64" ? Tensor.int64([1], [0]) : Tensor.float32([1], [0]);
  if (zero.dtype !== like.dtype) throw new GraphError(`zerosLike does not support ${like.dtype}`);
  return g.add(ConstantOfShape, [shapeOf(like)], { value: attr.tensor(zero) })[0] as Value;
}
