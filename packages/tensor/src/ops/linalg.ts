/**
 * MatMul, reductions and normalised exponentials.
 * https://onnx.ai/onnx/operators/onnx__MatMul.html, onnx__ReduceSum.html,
 * onnx__Softmax.html, onnx__LogSoftmax.html
 */

import { GraphError } from "../errors.js";
import { type Dim, type OpDefinition, type Value, type VjpContext, attr } from "../graph.js";
import { formatShape } from "../tensor.js";
import { cast, div, equal, exp, mul, sub } from "./elementwise.js";
import { doutputOf, expandLike, inputOf, isStatic, reductionAxes, scalarLike, swapLastTwo } from "./grad-helpers.js";
import { broadcastShapes, constantInts, intAttr, normalizeAxis, required, sameDType } from "./infer.js";
import { reshape, size, squeeze, transpose, unsqueeze } from "./shape.js";

// MatMul: [..., N, K] @ [..., K, M] -> [..., N, M] with numpy broadcasting of the batch axes.
export const MatMul: OpDefinition = {
  opType: "MatMul",
  infer(inputs) {
    const a = required(inputs, 0, "A");
    const b = required(inputs, 1, "B");
    const dtype = sameDType([a, b]);
    if (a.rank < 1 || b.rank < 1) throw new GraphError("MatMul inputs need rank 1 or more");
    const aShape = a.rank === 1 ? [1, a.shape[0] as Dim] : a.shape;
    const bShape = b.rank === 1 ? [b.shape[0] as Dim, 1] : b.shape;
    const k1 = aShape[aShape.length - 1] as Dim;
    const k2 = bShape[bShape.length - 2] as Dim;
    if (typeof k1 === "number" && typeof k2 === "number" && k1 !== k2) {
      throw new GraphError(`inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)}`);
    }
    const batch = broadcastShapes([aShape.slice(0, -2), bShape.slice(0, -2)]);
    const shape: Dim[] = [...batch];
    if (a.rank > 1) shape.push(aShape[aShape.length - 2] as Dim);
    if (b.rank > 1) shape.push(bShape[bShape.length - 1] as Dim);
    return [{ dtype, shape }];
  },
  // dA = dY @ Bᵀ: [..., N, M] @ [..., M, K] -> [..., N, K]
  // dB = Aᵀ @ dY: [..., K, N] @ [..., N, M] -> [..., K, M]
  // A rank-1 operand is promoted to a matrix first (A [K] -> [1, K], B [K] -> [K, 1]) and
  // the added axis is removed from its gradient. The walker sums broadcast batch axes.
  vjp(c) {
    const a = inputOf(c, 0);
    const b = inputOf(c, 1);
    const dy = matmulOutputGradient(doutputOf(c), a.rank, b.rank); // [..., N, M]
    let da: Value | null = null;
    let db: Value | null = null;
    if (c.needs(0)) {
      const b2 = b.rank === 1 ? unsqueeze(b, [1]) : b; // [..., K, M]
      da = matmul(dy, transpose(b2, swapLastTwo(b2.rank))); // [..., N, K]
      if (a.rank === 1) da = squeeze(da, [-2]); // [..., K]
    }
    if (c.needs(1)) {
      const a2 = a.rank === 1 ? unsqueeze(a, [0]) : a; // [..., N, K]
      db = matmulWeightGradient(a2, dy, Math.max(b.rank, 2)); // [..., K, M]
      if (b.rank === 1) db = squeeze(db, [-1]); // [..., K]
    }
    return [da, db];
  },
};

/** Restores the axes that MatMul drops for rank-1 operands: dY becomes [..., N, M]. */
function matmulOutputGradient(dy: Value, aRank: number, bRank: number): Value {
  if (aRank === 1 && bRank === 1) return unsqueeze(dy, [0, 1]); // [] -> [1, 1]
  if (aRank === 1) return unsqueeze(dy, [-2]); // [..., M] -> [..., 1, M]
  if (bRank === 1) return unsqueeze(dy, [-1]); // [..., N] -> [..., N, 1]
  return dy;
}

/**
 * dB = Aᵀ @ dY. When B is a plain matrix shared by every batch entry (a weight), the
 * batch axes are folded into N so that one matrix product replaces a batched product
 * and a sum: [K, B*N] @ [B*N, M] -> [K, M].
 */
function matmulWeightGradient(a: Value, dy: Value, bRank: number): Value {
  const k = a.shape[a.rank - 1] as Dim;
  const m = dy.shape[dy.rank - 1] as Dim;
  if (bRank === 2 && a.rank > 2 && isStatic([k, m])) {
    const flatA = reshape(a, [-1, k as number]); // [B*N, K]
    const flatDy = reshape(dy, [-1, m as number]); // [B*N, M]
    return matmul(transpose(flatA, [1, 0]), flatDy); // [K, M]
  }
  return matmul(transpose(a, swapLastTwo(a.rank)), dy); // [..., K, M]
}

export function matmul(a: Value, b: Value): Value {
  return a.graph.add(MatMul, [a, b])[0] as Value;
}

function reduction(opType: string): OpDefinition {
  return {
    opType,
    infer(inputs, attributes) {
      const x = required(inputs, 0, "data");
      const keepdims = intAttr(attributes, "keepdims", 1) === 1;
      const axesInput = inputs[1];
      let axes: number[];
      if (axesInput === null || axesInput === undefined) {
        axes = x.shape.map((_, i) => i);
      } else {
        const constant = constantInts(axesInput);
        if (constant === undefined) throw new GraphError("reduction axes must be a constant int64 initializer");
        axes = constant.map((a) => normalizeAxis(a, x.rank));
      }
      const shape: Dim[] = [];
      x.shape.forEach((d, i) => {
        if (!axes.includes(i)) shape.push(d);
        else if (keepdims) shape.push(1);
      });
      return [{ dtype: x.dtype, shape }];
    },
  };
}

/** Puts back the reduced axes of a reduction's output or gradient when keepdims is 0. */
function withReducedAxes(c: VjpContext, value: Value): Value {
  const keepdims = intAttr(c.attributes, "keepdims", 1) === 1;
  const axes = reductionAxes(c);
  return keepdims || axes.length === 0 ? value : unsqueeze(value, axes);
}

// y = sum(x, axes): dx = dy broadcast over the reduced axes
export const ReduceSum: OpDefinition = {
  ...reduction("ReduceSum"),
  vjp: (c) => [expandLike(withReducedAxes(c, doutputOf(c)), inputOf(c, 0)), null],
};

// y = mean(x, axes): dx = dy / n broadcast over the reduced axes, n = reduced elements
export const ReduceMean: OpDefinition = {
  ...reduction("ReduceMean"),
  vjp(c) {
    const x = inputOf(c, 0);
    const y = c.outputs[0] as Value;
    const dy = withReducedAxes(c, doutputOf(c));
    const reduced = reductionAxes(c).map((a) => x.shape[a] as Dim);
    const count = isStatic(reduced)
      ? scalarLike(dy, (reduced as number[]).reduce((p, d) => p * d, 1))
      : div(cast(size(x), dy.dtype), cast(size(y), dy.dtype));
    return [expandLike(div(dy, count), x), null];
  },
};

// y = max(x, axes): the gradient goes to the positions where x equals the maximum. Tied
// positions share it equally, so the gradient still sums to dy.
export const ReduceMax: OpDefinition = {
  ...reduction("ReduceMax"),
  vjp(c) {
    const x = inputOf(c, 0);
    const y = withReducedAxes(c, c.outputs[0] as Value);
    const dy = withReducedAxes(c, doutputOf(c));
    const isMax = cast(equal(x, y), x.dtype); // 1 where x equals the maximum
    const ties = reduceSum(isMax, reductionAxes(c), true); // number of tied maximum positions
    return [mul(isMax, div(dy, ties)), null];
  },
};

function reduce(op: OpDefinition, x: Value, axes: readonly number[] | null, keepdims: boolean): Value {
  const axesValue = axes === null ? null : x.graph.ints(axes);
  return x.graph.add(op, axesValue === null ? [x] : [x, axesValue], { keepdims: attr.int(keepdims ? 1 : 0) })[0] as Value;
}

/** Sums over `axes` (all axes when null). */
export const reduceSum = (x: Value, axes: readonly number[] | null, keepdims = true): Value => reduce(ReduceSum, x, axes, keepdims);
export const reduceMean = (x: Value, axes: readonly number[] | null, keepdims = true): Value => reduce(ReduceMean, x, axes, keepdims);
export const reduceMax = (x: Value, axes: readonly number[] | null, keepdims = true): Value => reduce(ReduceMax, x, axes, keepdims);

function softmaxLike(opType: string): OpDefinition {
  return {
    opType,
    infer(inputs, attributes) {
      const x = required(inputs, 0, "input");
      normalizeAxis(intAttr(attributes, "axis", -1), x.rank);
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  };
}

const softmaxAxis = (c: VjpContext): number => normalizeAxis(intAttr(c.attributes, "axis", -1), inputOf(c, 0).rank);

// y = softmax(x): dx = y * (dy - sum(dy * y, axis))
export const Softmax: OpDefinition = {
  ...softmaxLike("Softmax"),
  vjp(c) {
    const dy = doutputOf(c);
    const y = c.outputs[0] as Value;
    return [mul(y, sub(dy, reduceSum(mul(dy, y), [softmaxAxis(c)], true)))];
  },
};

// y = log_softmax(x): dx = dy - exp(y) * sum(dy, axis)
export const LogSoftmax: OpDefinition = {
  ...softmaxLike("LogSoftmax"),
  vjp(c) {
    const dy = doutputOf(c);
    const y = c.outputs[0] as Value;
    return [sub(dy, mul(exp(y), reduceSum(dy, [softmaxAxis(c)], true)))];
  },
};

export const softmax = (x: Value, axis = -1): Value => x.graph.add(Softmax, [x], { axis: attr.int(axis) })[0] as Value;
export const logSoftmax = (x: Value, axis = -1): Value => x.graph.add(LogSoftmax, [x], { axis: attr.int(axis) })[0] as Value;
