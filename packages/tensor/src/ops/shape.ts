/**
 * Operators that move, select or reshape data without arithmetic.
 * https://onnx.ai/onnx/operators/ (Reshape, Transpose, Concat, Slice, Split, Gather,
 * GatherElements, ScatterND, ScatterElements, Unsqueeze, Squeeze, Expand, Shape,
 * ConstantOfShape, Pad, Size, Range)
 */

import { GraphError } from "../errors.js";
import { type Dim, type OpDefinition, type Value, attr } from "../graph.js";
import { Tensor, formatShape } from "../tensor.js";
import { cast } from "./elementwise.js";
import {
  addWithShapes,
  doutputOf,
  inputOf,
  invertPermutation,
  isStatic,
  noGradient,
  reshapeLike,
  zerosWithShape,
} from "./grad-helpers.js";
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
  // dx = dy reshaped back to the shape of x
  vjp: (c) => [reshapeLike(doutputOf(c), inputOf(c, 0)), null],
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
  // dx = dy transposed by the inverse permutation
  vjp(c) {
    const x = inputOf(c, 0);
    const perm = intsAttr(c.attributes, "perm") ?? x.shape.map((_, i) => x.rank - 1 - i);
    return [transpose(doutputOf(c), invertPermutation(perm))];
  },
};

export const transpose = (x: Value, perm: readonly number[]): Value =>
  x.graph.add(Transpose, [x], { perm: attr.ints(perm) })[0] as Value;

export const Concat: OpDefinition = {
  opType: "Concat",
  infer(inputs, attributes) {
    const values = inputs.map((_, i) => required(inputs, i, "inputs"));
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
  // dy is split back into pieces with the sizes of the inputs along `axis`.
  vjp(c) {
    const dy = doutputOf(c);
    const parts = c.inputs.map((_, i) => inputOf(c, i));
    if (parts.length === 1) return [dy];
    const axis = normalizeAxis(intAttr(c.attributes, "axis"), dy.rank);
    const sizes = parts.map((p) => p.shape[axis] as Dim);
    let pieces: Value[];
    if (isStatic(sizes)) {
      pieces = split(dy, sizes, axis);
    } else {
      // Sizes known only at run time: read them from the inputs' shapes.
      const g = dy.graph;
      const sizeVector = concat(parts.map((p) => gather(shapeOf(p), g.ints([axis]))), 0); // [parts]
      const specs = parts.map((p) => ({ dtype: p.dtype, shape: p.shape }));
      pieces = addWithShapes(Split, [dy, sizeVector], { axis: attr.int(axis) }, specs);
    }
    return pieces.map((piece, i) => (c.needs(i) ? piece : null));
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
  // dx is dy put back at the positions the slice took, with zeros elsewhere. One zero Pad
  // restores every axis with a static size and step 1. Each other axis takes a
  // ScatterElements of dy into zeros at the sliced positions.
  vjp(c) {
    const x = inputOf(c, 0);
    const starts = requireConstantInts(c.inputs[1], "starts");
    const ends = requireConstantInts(c.inputs[2], "ends");
    const axes = c.inputs[3] ? requireConstantInts(c.inputs[3], "axes") : starts.map((_, i) => i);
    const steps = c.inputs[4] ? requireConstantInts(c.inputs[4], "steps") : starts.map(() => 1);
    const pads = new Array<number>(2 * x.rank).fill(0);
    const scattered: number[] = [];
    axes.forEach((a, i) => {
      const axis = normalizeAxis(a, x.rank);
      const dim = x.shape[axis] as Dim;
      if (typeof dim !== "number" || steps[i] !== 1) {
        scattered.push(i);
        return;
      }
      const positions = slicePositions(dim, starts[i] as number, ends[i] as number, 1);
      const before = positions.length === 0 ? 0 : (positions[0] as number);
      pads[axis] = before;
      pads[axis + x.rank] = dim - before - positions.length;
    });

    let dx = doutputOf(c);
    if (pads.some((p) => p !== 0)) dx = pad(dx, pads);
    for (const i of scattered) {
      dx = unslice(dx, x, normalizeAxis(axes[i] as number, x.rank), starts[i] as number, ends[i] as number, steps[i] as number);
    }
    return [dx, null, null, null, null];
  },
};

/** Lists the positions along an axis of size `dim` that Slice takes, in output order. */
function slicePositions(dim: number, start: number, end: number, step: number): number[] {
  const length = sliceLength(dim, start, end, step);
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const from = start < 0 ? start + dim : start;
  const first = step > 0 ? clamp(from, 0, dim) : clamp(from, 0, dim - 1);
  return Array.from({ length }, (_, k) => first + k * step);
}

/**
 * Scatters `dy` along `axis` into zeros with the size of `x` on that axis, at the
 * positions `Slice(starts, ends, steps)` took. Other axes keep dy's size.
 */
function unslice(dy: Value, x: Value, axis: number, start: number, end: number, step: number): Value {
  const g = dy.graph;
  const dim = x.shape[axis] as Dim;

  // Positions along the axis: computed here when its size is static, else by slicing
  // Range(0, size) at run time.
  let positions: Value; // [len]
  if (typeof dim === "number") {
    positions = g.ints(slicePositions(dim, start, end, step));
  } else {
    const size = gather(shapeOf(x), g.scalar(axis, "int64")); // []
    positions = slice(range(g.scalar(0, "int64"), size, g.scalar(1, "int64")), [start], [end], [0], [step]);
  }
  const along = dy.shape.map((_, i) => (i === axis ? -1 : 1));
  const indices = expand(reshape(positions, along), dy); // dy's shape

  // Zeros of dy's shape with the axis restored to x's size.
  const shape = dy.shape.map((d, i) => (i === axis ? dim : d));
  const zeros = zerosWithShape(dy.dtype, shape, isStatic(shape) ? g.ints(shape) : shapeWithAxisOf(dy, x, axis));
  return scatterElementsAdd(zeros, indices, dy, axis);
}

/** Builds the run-time shape of `value` with dimension `axis` taken from `source`: [rank]. */
function shapeWithAxisOf(value: Value, source: Value, axis: number): Value {
  const g = value.graph;
  const valueShape = shapeOf(value);
  const pieces: Value[] = [];
  if (axis > 0) pieces.push(slice(valueShape, [0], [axis], [0]));
  pieces.push(gather(shapeOf(source), g.ints([axis])));
  if (axis < value.rank - 1) pieces.push(slice(valueShape, [axis + 1], [value.rank], [0]));
  return pieces.length === 1 ? (pieces[0] as Value) : concat(pieces, 0);
}

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
  // dx = the output gradients concatenated along `axis`, zeros for outputs without one
  vjp(c) {
    const x = inputOf(c, 0);
    const axis = normalizeAxis(intAttr(c.attributes, "axis", 0), x.rank);
    const pieces = c.outputs.map((output, i) => c.doutputs[i] ?? zerosLike(output));
    return [pieces.length === 1 ? (pieces[0] as Value) : concat(pieces, axis), null];
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
  // dy rows are added into zeros at the gathered indices (ScatterND with reduction add),
  // so an index that occurs several times gets the sum of its rows. Along an axis other
  // than 0, that axis is moved to the front first and back afterwards.
  vjp(c) {
    const data = inputOf(c, 0);
    const indices = inputOf(c, 1);
    const dy = doutputOf(c); // [pre, I, post]
    const axis = normalizeAxis(intAttr(c.attributes, "axis", 0), data.rank);
    const tuples = unsqueeze(cast(indices, "int64"), [-1]); // [I, 1]
    if (axis === 0) return [scatterNDAdd(zerosLike(data), tuples, dy), null];

    const g = data.graph;
    const rest = data.shape.map((_, i) => i).filter((i) => i !== axis);
    const dataPerm = [axis, ...rest]; // data -> [N, pre, post]
    const r = indices.rank;
    const before = Array.from({ length: axis }, (_, i) => i);
    const gathered = Array.from({ length: r }, (_, i) => axis + i);
    const after = Array.from({ length: dy.rank - axis - r }, (_, i) => axis + r + i);
    const dyPerm = [...gathered, ...before, ...after]; // dy -> [I, pre, post]

    const movedShape = dataPerm.map((p) => data.shape[p] as Dim);
    const zeros = zerosWithShape(data.dtype, movedShape, isStatic(movedShape) ? g.ints(movedShape) : gather(shapeOf(data), g.ints(dataPerm)));
    const scattered = scatterNDAdd(zeros, tuples, transpose(dy, dyPerm)); // [N, pre, post]
    return [transpose(scattered, invertPermutation(dataPerm)), null];
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
  // dx = dy added into zeros at the gathered positions (ScatterElements, reduction add)
  vjp(c) {
    const data = inputOf(c, 0);
    const axis = normalizeAxis(intAttr(c.attributes, "axis", 0), data.rank);
    return [scatterElementsAdd(zerosLike(data), inputOf(c, 1), doutputOf(c), axis), null];
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
  // dx = dy with the inserted axes squeezed out
  vjp(c) {
    const dy = doutputOf(c);
    const axes = requireConstantInts(c.inputs[1], "axes").map((a) => normalizeAxis(a, dy.rank));
    return [squeeze(dy, axes), null];
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
  // dx = dy with the removed axes inserted again
  vjp(c) {
    const x = inputOf(c, 0);
    const axes = requireConstantInts(c.inputs[1], "axes").map((a) => normalizeAxis(a, x.rank));
    return [unsqueeze(doutputOf(c), axes), null];
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
  // dx = dy; the walker sums the broadcast axes back to the shape of x.
  vjp: (c) => [doutputOf(c), null],
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
  vjp: noGradient,
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
  vjp: noGradient,
};

/** Builds a tensor of zeros with the runtime shape and dtype of `like`. */
export function zerosLike(like: Value): Value {
  const zero = new Tensor(like.dtype, [1]); // zero-filled, and the zero bit pattern for every dtype
  return like.graph.add(ConstantOfShape, [shapeOf(like)], { value: attr.tensor(zero) })[0] as Value;
}

// Pad in constant mode with non-negative pads: [x1_begin, x2_begin, ..., x1_end, x2_end, ...].
export const Pad: OpDefinition = {
  opType: "Pad",
  infer(inputs, attributes) {
    const x = required(inputs, 0, "data");
    const pads = requireConstantInts(inputs[1], "pads");
    if (inputs[3] !== undefined && inputs[3] !== null) throw new GraphError("Pad with an axes input is not supported; give pads for every axis");
    const mode = attributes.mode;
    if (mode !== undefined && (mode.kind !== "string" || mode.value !== "constant")) throw new GraphError("only Pad mode 'constant' is supported");
    if (pads.length !== 2 * x.rank) throw new GraphError(`pads needs ${2 * x.rank} values for rank ${x.rank}, got ${pads.length}`);
    if (pads.some((p) => p < 0)) throw new GraphError(`pads ${formatShape(pads)} has negative values; use Slice to crop`);
    const shape = x.shape.map((d, i) => {
      const extra = (pads[i] as number) + (pads[i + x.rank] as number);
      return extra === 0 ? d : addDims([d, extra]);
    });
    return [{ dtype: x.dtype, shape }];
  },
  // dx = the part of dy that covers x
  vjp(c) {
    const x = inputOf(c, 0);
    const pads = requireConstantInts(c.inputs[1], "pads");
    const axes = x.shape.map((_, i) => i);
    const starts = axes.map((i) => pads[i] as number);
    const ends = axes.map((i) => {
      const dim = x.shape[i] as Dim;
      if (typeof dim === "number") return (pads[i] as number) + dim;
      const after = pads[i + x.rank] as number;
      return after === 0 ? Number.MAX_SAFE_INTEGER : -after;
    });
    return [slice(doutputOf(c), starts, ends, axes), null, null];
  },
};

/** Pads `x` with zeros: `pads` lists the count before each axis, then the count after each axis. */
export function pad(x: Value, pads: readonly number[]): Value {
  return x.graph.add(Pad, [x, x.graph.ints(pads)])[0] as Value;
}

// Size: the number of elements, as an int64 scalar.
export const Size: OpDefinition = {
  opType: "Size",
  infer(inputs) {
    required(inputs, 0, "data");
    return [{ dtype: "int64", shape: [] }];
  },
  vjp: noGradient,
};

export const size = (x: Value): Value => x.graph.add(Size, [x])[0] as Value;

// Range: [start, start + delta, ...) below `limit` (above it for a negative delta).
export const Range: OpDefinition = {
  opType: "Range",
  infer(inputs) {
    const start = required(inputs, 0, "start");
    const limit = required(inputs, 1, "limit");
    const delta = required(inputs, 2, "delta");
    for (const v of [start, limit, delta]) if (v.rank !== 0) throw new GraphError(`Range inputs must be scalars, got ${v}`);
    const [s, l, d] = [start, limit, delta].map((v) => constantInts(v)?.[0]);
    const length = s === undefined || l === undefined || d === undefined ? freshDim("range") : Math.max(0, Math.ceil((l - s) / d));
    return [{ dtype: start.dtype, shape: [length] }];
  },
  vjp: noGradient,
};

export const range = (start: Value, limit: Value, delta: Value): Value => start.graph.add(Range, [start, limit, delta])[0] as Value;
