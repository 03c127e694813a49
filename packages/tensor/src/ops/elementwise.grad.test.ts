// Each vector-Jacobian rule in elementwise.ts against central finite differences in
// float64. Shapes broadcast and have distinct sizes so that a gradient summed over the
// wrong axis fails the check.

import { describe, expect, it } from "vitest";
import { Tensor } from "../tensor.js";
import { type GradientCheck, checkGradients, randomTensor } from "../test/numeric.js";
import * as ops from "./index.js";

type Case = GradientCheck & { readonly name: string };

const r = (shape: number[], seed: number, low = -1, high = 1): Tensor => randomTensor(shape, { seed, low, high });

/** Random values in ±[0.2, 1), away from the kink of Abs and the pole of Reciprocal. */
function awayFromZero(shape: number[], seed: number): Tensor {
  const base = randomTensor(shape, { seed, low: 0.2, high: 1 });
  const signs = randomTensor(shape, { seed: seed + 7 });
  const data = (base.data as Float64Array).map((v, i) => (((signs.data as Float64Array)[i] as number) < 0 ? -v : v));
  return new Tensor("float64", shape, data);
}

const cases: Case[] = [
  { name: "Add [3,1,4] + [2,4]", inputs: { a: r([3, 1, 4], 1), b: r([2, 4], 2) }, build: (_, v) => ops.add(v.a!, v.b!) },
  { name: "Add [2,3] + scalar", inputs: { a: r([2, 3], 3), b: r([], 4) }, build: (_, v) => ops.add(v.a!, v.b!) },
  { name: "Add [4] + [2,3,4]", inputs: { a: r([4], 5), b: r([2, 3, 4], 6) }, build: (_, v) => ops.add(v.a!, v.b!) },
  { name: "Sub [2,3,4] - [3,1]", inputs: { a: r([2, 3, 4], 7), b: r([3, 1], 8) }, build: (_, v) => ops.sub(v.a!, v.b!) },
  { name: "Mul [3,1,4] * [2,4]", inputs: { a: r([3, 1, 4], 9), b: r([2, 4], 10) }, build: (_, v) => ops.mul(v.a!, v.b!) },
  { name: "Mul x * x", inputs: { x: r([2, 3], 11) }, build: (_, v) => ops.mul(v.x!, v.x!) },
  { name: "Div [2,3] / [3]", inputs: { a: r([2, 3], 12), b: r([3], 13, 0.5, 2) }, build: (_, v) => ops.div(v.a!, v.b!) },
  { name: "Div [3] / [2,3]", inputs: { a: r([3], 14), b: r([2, 3], 15, 0.5, 2) }, build: (_, v) => ops.div(v.a!, v.b!) },
  { name: "Pow [3,4] ** [4]", inputs: { a: r([3, 4], 16, 0.5, 2), b: r([4], 17, -2, 2) }, build: (_, v) => ops.pow(v.a!, v.b!) },
  { name: "Pow constant exponent", inputs: { a: r([2, 3], 18) }, build: (_, v) => ops.pow(v.a!, 3) },
  { name: "Pow [2] ** [3,2]", inputs: { a: r([2], 19, 0.5, 2), b: r([3, 2], 20) }, build: (_, v) => ops.pow(v.a!, v.b!) },
  { name: "Neg", inputs: { x: r([2, 3], 21) }, build: (_, v) => ops.neg(v.x!) },
  { name: "Sqrt", inputs: { x: r([2, 3], 22, 0.3, 3) }, build: (_, v) => ops.sqrt(v.x!) },
  { name: "Reciprocal", inputs: { x: awayFromZero([2, 3], 23) }, build: (_, v) => ops.reciprocal(v.x!) },
  { name: "Exp", inputs: { x: r([2, 3], 24) }, build: (_, v) => ops.exp(v.x!) },
  { name: "Log", inputs: { x: r([2, 3], 25, 0.3, 3) }, build: (_, v) => ops.log(v.x!) },
  { name: "Sigmoid", inputs: { x: r([2, 3], 26, -3, 3) }, build: (_, v) => ops.sigmoid(v.x!) },
  { name: "Sin", inputs: { x: r([2, 3], 27, -3, 3) }, build: (_, v) => ops.sin(v.x!) },
  { name: "Cos", inputs: { x: r([2, 3], 28, -3, 3) }, build: (_, v) => ops.cos(v.x!) },
  { name: "Abs", inputs: { x: awayFromZero([2, 3], 29) }, build: (_, v) => ops.abs(v.x!) },
  { name: "Identity", inputs: { x: r([2, 3], 30) }, build: (_, v) => ops.identity(v.x!) },
  { name: "Max [3,4] and [4]", inputs: { a: r([3, 4], 31), b: r([4], 32) }, build: (_, v) => ops.max(v.a!, v.b!) },
  { name: "Min [3,4] and [4]", inputs: { a: r([3, 4], 33), b: r([4], 34) }, build: (_, v) => ops.min(v.a!, v.b!) },
  {
    name: "Where [3,4] ? [3,4] : [4]",
    inputs: { x: r([3, 4], 35), y: r([4], 36), c: r([3, 4], 37) },
    wrt: ["x", "y"],
    build: (_, v) => ops.where(ops.less(v.c!, 0), v.x!, v.y!),
  },
  {
    name: "Where condition from the input",
    inputs: { x: r([2, 5], 38) },
    build: (_, v) => ops.where(ops.greater(v.x!, 0), ops.mul(v.x!, v.x!), ops.neg(v.x!)),
  },
  {
    name: "Cast float32 to float64",
    inputs: { x: randomTensor([2, 3], { seed: 39, dtype: "float32" }) },
    // Quadratic, so central differences are exact even with float32 steps.
    build: (_, v) => {
      const y = ops.cast(v.x!, "float64");
      return ops.mul(y, y);
    },
    eps: 2 ** -10,
  },
  {
    name: "Cast of an integer input",
    inputs: { x: r([2, 3], 40), k: Tensor.int64([2, 3], [1, 2, 3, -1, -2, 5]) },
    build: (_, v) => ops.mul(v.x!, ops.cast(v.k!, "float64")),
  },
];

describe("elementwise gradients match finite differences", () => {
  for (const testCase of cases) {
    it(testCase.name, async () => {
      const result = await checkGradients(testCase);
      for (const [name, error] of Object.entries(result.relativeError))
        expect(error, `relative error of d${name}`).toBeLessThan(testCase.tolerance ?? 1e-6);
    });
  }
});

describe("elementwise operators without gradient", () => {
  it("stopGradient input gets zeros", async () => {
    await checkGradients({
      inputs: { x: r([2, 3], 41), y: r([2, 3], 42) },
      build: (_, v) => ops.add(ops.stopGradient(v.x!), ops.mul(v.y!, 2)),
      zeroGradient: ["x"],
    });
  });

  it("Sign input gets zeros", async () => {
    await checkGradients({ inputs: { x: awayFromZero([2, 3], 43) }, build: (_, v) => ops.sign(v.x!), zeroGradient: ["x"] });
  });

  it("comparison inputs get zeros", async () => {
    await checkGradients({
      inputs: { a: r([2, 3], 44), b: r([3], 45) },
      build: (_, v) => {
        const masks = [ops.less(v.a!, v.b!), ops.lessOrEqual(v.a!, v.b!), ops.greater(v.a!, v.b!), ops.equal(v.a!, v.b!)];
        return masks.map((m) => ops.cast(ops.not(ops.and(m, m)), "float64"));
      },
      zeroGradient: ["a", "b"],
    });
  });
});
