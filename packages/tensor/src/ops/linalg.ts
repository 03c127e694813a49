/**
 * MatMul, reductions and normalised exponentials.
 * https://onnx.ai/onnx/operators/onnx__MatMul.html, onnx__ReduceSum.html,
 * onnx__Softmax.html, onnx__LogSoftmax.html
 */

import { GraphError } from "../errors.js";
import { type Dim, type OpDefinition, type Value, attr } from "../graph.js";
import { formatShape } from "../tensor.js";
import { broadcastShapes, constantInts, intAttr, normalizeAxis, required, sameDType } from "./infer.js";

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
};

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

export const ReduceSum = reduction("ReduceSum");
export const ReduceMean = reduction("ReduceMean");
export const ReduceMax = reduction("ReduceMax");

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

export const Softmax = softmaxLike("Softmax");
export const LogSoftmax = softmaxLike("LogSoftmax");

export const softmax = (x: Value, axis = -1): Value => x.graph.add(Softmax, [x], { axis: attr.int(axis) })[0] as Value;
export const logSoftmax = (x: Value, axis = -1): Value => x.graph.add(LogSoftmax, [x], { axis: attr.int(axis) })[0] as Value;
