/**
 * Small builders shared by the vector-Jacobian rules in this folder.
 *
 * Rules compute one local gradient each. Accumulation over several consumers and the
 * reduction of broadcast axes belong to the walker in `grad.ts`, never to these helpers.
 *
 * The helpers are function declarations, not arrow constants, because the operator files
 * and this one import each other, and a declaration exists before any module body runs.
 */

import { type DType, isFloatDType } from "../dtype.js";
import { GraphError } from "../errors.js";
import { type Attributes, type Dim, type OpDefinition, type OutputSpec, type Value, type VjpContext, attr } from "../graph.js";
import { castTensor } from "../half.js";
import { Tensor } from "../tensor.js";
import { constantInts, normalizeAxis } from "./infer.js";
import { ConstantOfShape, expand, reshape, shapeOf } from "./shape.js";

/** Returns input `index` of the node being differentiated, and throws GraphError when it is absent. */
export function inputOf(context: VjpContext, index: number): Value {
  const value = context.inputs[index];
  if (value === null || value === undefined)
    throw new GraphError(`${context.node.op.opType} node ${context.node.name} has no input ${index}`);
  return value;
}

/** Returns the gradient of output `index`. The walker calls a single-output rule only when that gradient exists. */
export function doutputOf(context: VjpContext, index = 0): Value {
  const value = context.doutputs[index];
  if (value === null || value === undefined) {
    throw new GraphError(`${context.node.op.opType} node ${context.node.name} has no gradient for output ${index}`);
  }
  return value;
}

/** Returns null for every input: the rule of operators without gradient (comparisons, shapes, indices). */
export function noGradient(context: VjpContext): (Value | null)[] {
  return context.inputs.map(() => null);
}

/** Tells whether a gradient can flow through a value, which needs a float dtype. */
export function isDifferentiable(value: Value): boolean {
  return isFloatDType(value.dtype);
}

/** Adds a scalar constant with the dtype of `like`. */
export function scalarLike(like: Value, value: number): Value {
  if (like.dtype === "float32" || like.dtype === "float64" || like.dtype === "int64") return like.graph.scalar(value, like.dtype);
  return like.graph.constant(castTensor(Tensor.float64([], [value]), like.dtype), "scalar");
}

/** Tells whether every dimension is a number, so that shape vectors can be constants. */
export function isStatic(shape: readonly Dim[]): shape is readonly number[] {
  return shape.every((d) => typeof d === "number");
}

/** Reshapes `dy` to the shape of `x` (same number of elements). */
export function reshapeLike(dy: Value, x: Value): Value {
  return reshape(dy, isStatic(x.shape) ? x.shape : shapeOf(x));
}

/** Broadcasts `dy` to the shape of `x`. */
export function expandLike(dy: Value, x: Value): Value {
  return expand(dy, isStatic(x.shape) ? x.shape : x);
}

/** Lists the normalised axes a reduction node reduces over (every axis when the axes input is absent). */
export function reductionAxes(context: VjpContext): number[] {
  const x = inputOf(context, 0);
  const axesInput = context.inputs[1];
  if (axesInput === null || axesInput === undefined) return x.shape.map((_, i) => i);
  const axes = constantInts(axesInput);
  if (axes === undefined) throw new GraphError(`${context.node.op.opType} node ${context.node.name} has non-constant axes`);
  return axes.map((a) => normalizeAxis(a, x.rank)).sort((a, b) => a - b);
}

/** Permutation of rank `rank` that swaps the last two axes. */
export function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/** Inverts a permutation. */
export function invertPermutation(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return inverse;
}

/**
 * Appends a node of `op` whose outputs have shapes known from the forward pass.
 *
 * Some gradient nodes take shape vectors computed at run time (a Concat of `Shape`
 * slices, say), which shape inference cannot follow. Their outputs always have the
 * shapes of forward values, so the rule states them. NOTE: the stated shapes are
 * trusted, not checked; onnxruntime reports a mismatch when the graph runs.
 */
export function addWithShapes(
  op: OpDefinition,
  inputs: readonly (Value | null)[],
  attributes: Attributes,
  specs: readonly OutputSpec[],
): Value[] {
  const known: OpDefinition = { ...op, infer: () => [...specs] };
  const graph = (inputs.find((v) => v !== null) as Value).graph;
  return graph.add(known, inputs, attributes);
}

/** Zeros of `dtype` with `shape`, whose run-time value is the int64 vector `shapeVector`. */
export function zerosWithShape(dtype: DType, shape: readonly Dim[], shapeVector: Value): Value {
  const attributes = { value: attr.tensor(new Tensor(dtype, [1])) };
  if (constantInts(shapeVector) !== undefined) return shapeVector.graph.add(ConstantOfShape, [shapeVector], attributes)[0] as Value;
  return addWithShapes(ConstantOfShape, [shapeVector], attributes, [{ dtype, shape }])[0] as Value;
}
