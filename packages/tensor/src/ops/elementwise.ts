/**
 * Element-wise operators (numpy broadcasting) and their builders.
 * https://onnx.ai/onnx/operators/ (Add, Sub, Mul, Div, Pow, Neg, Sqrt, Reciprocal, Exp,
 * Log, Sigmoid, Sin, Cos, Abs, Equal, Less, LessOrEqual, Greater, And, Not, Where, Cast,
 * Max, Min, Sign, Identity)
 */

import { type DType, ONNX_DTYPE, dtypeFromOnnx } from "../dtype.js";
import { GraphError } from "../errors.js";
import { type OpDefinition, type Value, attr } from "../graph.js";
import { doutputOf, inputOf, isDifferentiable, noGradient, scalarLike } from "./grad-helpers.js";
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

// Gradients of the binary operators have the broadcast output shape; the walker in
// grad.ts sums them back to each input's shape.

// y = a + b: da = dy, db = dy
export const Add: OpDefinition = {
  ...binary("Add"),
  vjp: (c) => [c.needs(0) ? doutputOf(c) : null, c.needs(1) ? doutputOf(c) : null],
};

// y = a - b: da = dy, db = -dy
export const Sub: OpDefinition = {
  ...binary("Sub"),
  vjp: (c) => [c.needs(0) ? doutputOf(c) : null, c.needs(1) ? neg(doutputOf(c)) : null],
};

// y = a * b: da = dy * b, db = dy * a
export const Mul: OpDefinition = {
  ...binary("Mul"),
  vjp: (c) => [c.needs(0) ? mul(doutputOf(c), inputOf(c, 1)) : null, c.needs(1) ? mul(doutputOf(c), inputOf(c, 0)) : null],
};

// y = a / b: da = dy / b, db = -dy * a / b² = -(dy * y) / b
export const Div: OpDefinition = {
  ...binary("Div"),
  vjp(c) {
    const dy = doutputOf(c);
    const b = inputOf(c, 1);
    return [c.needs(0) ? div(dy, b) : null, c.needs(1) ? neg(div(mul(dy, c.outputs[0] as Value), b)) : null];
  },
};

// y = a ** b: da = dy * b * a ** (b - 1), db = dy * y * ln(a). A constant exponent
// (an initializer outside wrt) is not needed, so it costs nothing. db is NaN where a <= 0,
// like the derivative it represents.
export const Pow: OpDefinition = {
  ...binary("Pow"),
  vjp(c) {
    const dy = doutputOf(c);
    const a = inputOf(c, 0);
    const b = inputOf(c, 1);
    const da = c.needs(0) ? mul(dy, mul(b, pow(a, sub(b, scalarLike(b, 1))))) : null;
    const db = c.needs(1) ? mul(dy, mul(c.outputs[0] as Value, log(a))) : null;
    return [da, db];
  },
};

// y = max(a, b): the gradient goes to the larger input. On ties (a == b) all of it goes
// to a, a valid subgradient.
export const Max: OpDefinition = {
  ...binary("Max"),
  vjp(c) {
    const dy = doutputOf(c);
    const zero = scalarLike(dy, 0);
    const bWins = less(inputOf(c, 0), inputOf(c, 1));
    return [c.needs(0) ? where(bWins, zero, dy) : null, c.needs(1) ? where(bWins, dy, zero) : null];
  },
};

export const Equal: OpDefinition = { ...binary("Equal", "bool"), vjp: noGradient };
export const Less: OpDefinition = { ...binary("Less", "bool"), vjp: noGradient };
export const LessOrEqual: OpDefinition = { ...binary("LessOrEqual", "bool"), vjp: noGradient };
export const Greater: OpDefinition = { ...binary("Greater", "bool"), vjp: noGradient };
export const And: OpDefinition = { ...binary("And", "bool"), vjp: noGradient };

// y = -x: dx = -dy
export const Neg: OpDefinition = { ...unary("Neg"), vjp: (c) => [neg(doutputOf(c))] };

// y = sqrt(x): dx = dy / (2 y)
export const Sqrt: OpDefinition = {
  ...unary("Sqrt"),
  vjp(c) {
    const dy = doutputOf(c);
    return [div(mul(dy, scalarLike(dy, 0.5)), c.outputs[0] as Value)];
  },
};

// y = 1 / x: dx = -dy * y²
export const Reciprocal: OpDefinition = {
  ...unary("Reciprocal"),
  vjp(c) {
    const y = c.outputs[0] as Value;
    return [neg(mul(doutputOf(c), mul(y, y)))];
  },
};

// y = exp(x): dx = dy * y
export const Exp: OpDefinition = { ...unary("Exp"), vjp: (c) => [mul(doutputOf(c), c.outputs[0] as Value)] };

// y = ln(x): dx = dy / x
export const Log: OpDefinition = { ...unary("Log"), vjp: (c) => [div(doutputOf(c), inputOf(c, 0))] };

// y = sigmoid(x): dx = dy * y * (1 - y)
export const Sigmoid: OpDefinition = {
  ...unary("Sigmoid"),
  vjp(c) {
    const y = c.outputs[0] as Value;
    return [mul(doutputOf(c), mul(y, sub(scalarLike(y, 1), y)))];
  },
};

// y = sin(x): dx = dy * cos(x)
export const Sin: OpDefinition = { ...unary("Sin"), vjp: (c) => [mul(doutputOf(c), cos(inputOf(c, 0)))] };

// y = cos(x): dx = -dy * sin(x)
export const Cos: OpDefinition = { ...unary("Cos"), vjp: (c) => [neg(mul(doutputOf(c), sin(inputOf(c, 0))))] };

// y = |x|: dx = dy * sign(x), so the subgradient at 0 is 0.
export const Abs: OpDefinition = { ...unary("Abs"), vjp: (c) => [mul(doutputOf(c), sign(inputOf(c, 0)))] };

export const Not: OpDefinition = { ...unary("Not"), vjp: noGradient };

// y = x: dx = dy
export const Identity: OpDefinition = { ...unary("Identity"), vjp: (c) => [doutputOf(c)] };

/**
 * Identity in the ONNX graph, but gradients stop here: the reverse-mode walker treats
 * its output as independent of its input.
 */
export const StopGradient: OpDefinition = { ...unary("Identity"), vjp: noGradient };

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
  // y = condition ? x : y: dx = condition ? dy : 0, dy_y = condition ? 0 : dy
  vjp(c) {
    const dy = doutputOf(c);
    const condition = inputOf(c, 0);
    const zero = scalarLike(dy, 0);
    return [null, c.needs(1) ? where(condition, dy, zero) : null, c.needs(2) ? where(condition, zero, dy) : null];
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
  // The gradient is cast back to the input's dtype; integer and bool inputs get none.
  vjp(c) {
    const x = inputOf(c, 0);
    return [isDifferentiable(x) ? cast(doutputOf(c), x.dtype) : null];
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

/** Passes `x` through unchanged but blocks its gradient (the value is treated as a constant). */
export const stopGradient = (x: Value): Value => applyUnary(StopGradient, x);

export function where(condition: Value, x: Operand, y: Operand): Value {
  const [left, right] = pair(x, y);
  return condition.graph.add(Where, [condition, left, right])[0] as Value;
}

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.add(Cast, [x], { to: attr.int(ONNX_DTYPE[to]) })[0] as Value;
}

// y = min(a, b): the gradient goes to the smaller input, all of it to a on ties.
export const Min: OpDefinition = {
  ...binary("Min"),
  vjp(c) {
    const dy = doutputOf(c);
    const zero = scalarLike(dy, 0);
    const bWins = greater(inputOf(c, 0), inputOf(c, 1));
    return [c.needs(0) ? where(bWins, zero, dy) : null, c.needs(1) ? where(bWins, dy, zero) : null];
  },
};

export const min = (a: Operand, b: Operand): Value => apply(Min, a, b);

// y = sign(x) is piecewise constant, so x gets no gradient.
export const Sign: OpDefinition = { ...unary("Sign"), vjp: noGradient };

export const sign = (x: Value): Value => applyUnary(Sign, x);
