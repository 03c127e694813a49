/**
 * Element-wise operators (numpy broadcasting) and their builders.
 * https://onnx.ai/onnx/operators/ (Add, Sub, Mul, Div, Pow, Neg, Sqrt, Reciprocal, Exp,
 * Log, Sigmoid, Sin, Cos, Equal, Less, LessOrEqual, Greater, And, Not, Where, Cast)
 */

import { type DType, ONNX_DTYPE, dtypeFromOnnx } from "../dtype.js";
import { GraphError } from "../errors.js";
import { type OpDefinition, type Value, attr } from "../graph.js";
import { broadcastShapes, required, sameDType } from "./infer.js";

export type Operand = Value | number;

function binary(opType: string, outputDType?: DType): OpDefinition {
  return {
    opType,
    infer(inputs) {
      const a = required(inputs, 0, "A");
      const b = required(inputs, 1, "B");
      const dtype = sameDType([a, b]);
      return [{ dtype: outputDType ?? dtype, shape: broadcastShapes([a.shape, b.shape]) }];
    },
  };
}

function unary(opType: string): OpDefinition {
  return {
    opType,
    infer(inputs) {
      const x = required(inputs, 0, "X");
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  };
}

export const Add = binary("Add");
export const Sub = binary("Sub");
export const Mul = binary("Mul");
export const Div = binary("Div");
export const Pow = binary("Pow");
export const Max = binary("Max");
export const Equal = binary("Equal", "bool");
export const Less = binary("Less", "bool");
export const LessOrEqual = binary("LessOrEqual", "bool");
export const Greater = binary("Greater", "bool");
export const And = binary("And", "bool");

export const Neg = unary("Neg");
export const Sqrt = unary("Sqrt");
export const Reciprocal = unary("Reciprocal");
export const Exp = unary("Exp");
export const Log = unary("Log");
export const Sigmoid = unary("Sigmoid");
export const Sin = unary("Sin");
export const Cos = unary("Cos");
export const Abs = unary("Abs");
export const Not = unary("Not");
export const Identity = unary("Identity");

export const Where: OpDefinition = {
  opType: "Where",
  infer(inputs) {
    const condition = required(inputs, 0, "condition");
    const x = required(inputs, 1, "X");
    const y = required(inputs, 2, "Y");
    if (condition.dtype !== "bool") throw new GraphError(`condition must be bool, got ${condition.dtype}`);
    const dtype = sameDType([x, y]);
    return [{ dtype, shape: broadcastShapes([condition.shape, x.shape, y.shape]) }];
  },
};

export const Cast: OpDefinition = {
  opType: "Cast",
  infer(inputs, attributes) {
    const x = required(inputs, 0, "input");
    const to = attributes.to;
    if (to === undefined || to.kind !== "int") throw new GraphError("Cast needs an ONNX data type code in its 'to' attribute");
    return [{ dtype: dtypeFromOnnx(to.value), shape: x.shape }];
  },
};

/** Turns a number operand into a scalar constant of `like`'s dtype. */
function operand(value: Operand, like: Value): Value {
  return typeof value === "number" ? like.graph.scalar(value, like.dtype) : value;
}

function pair(a: Operand, b: Operand): [Value, Value] {
  if (typeof a === "number" && typeof b === "number") throw new GraphError("at least one operand must be a graph value");
  const left = typeof a === "number" ? operand(a, b as Value) : a;
  return [left, operand(b, left)];
}

function apply(op: OpDefinition, a: Operand, b: Operand): Value {
  const [left, right] = pair(a, b);
  return left.graph.add(op, [left, right])[0] as Value;
}

export const add = (a: Operand, b: Operand): Value => apply(Add, a, b);
export const sub = (a: Operand, b: Operand): Value => apply(Sub, a, b);
export const mul = (a: Operand, b: Operand): Value => apply(Mul, a, b);
export const div = (a: Operand, b: Operand): Value => apply(Div, a, b);
export const pow = (a: Operand, b: Operand): Value => apply(Pow, a, b);
export const max = (a: Operand, b: Operand): Value => apply(Max, a, b);
export const equal = (a: Operand, b: Operand): Value => apply(Equal, a, b);
export const less = (a: Operand, b: Operand): Value => apply(Less, a, b);
export const lessOrEqual = (a: Operand, b: Operand): Value => apply(LessOrEqual, a, b);
export const greater = (a: Operand, b: Operand): Value => apply(Greater, a, b);
export const and = (a: Value, b: Value): Value => apply(And, a, b);

const applyUnary = (op: OpDefinition, x: Value): Value => x.graph.add(op, [x])[0] as Value;
export const neg = (x: Value): Value => applyUnary(Neg, x);
export const sqrt = (x: Value): Value => applyUnary(Sqrt, x);
export const reciprocal = (x: Value): Value => applyUnary(Reciprocal, x);
export const exp = (x: Value): Value => applyUnary(Exp, x);
export const log = (x: Value): Value => applyUnary(Log, x);
export const sigmoid = (x: Value): Value => applyUnary(Sigmoid, x);
export const sin = (x: Value): Value => applyUnary(Sin, x);
export const cos = (x: Value): Value => applyUnary(Cos, x);
export const abs = (x: Value): Value => applyUnary(Abs, x);
export const not = (x: Value): Value => applyUnary(Not, x);
export const identity = (x: Value): Value => applyUnary(Identity, x);

export function where(condition: Value, x: Operand, y: Operand): Value {
  const [left, right] = pair(x, y);
  return condition.graph.add(Where, [condition, left, right])[0] as Value;
}

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.add(Cast, [x], { to: attr.int(ONNX_DTYPE[to]) })[0] as Value;
}
