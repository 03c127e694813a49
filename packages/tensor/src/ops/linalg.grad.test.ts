// Each vector-Jacobian rule in linalg.ts against central finite differences in float64,
// on shapes whose sizes all differ so that a wrong axis or transpose is caught.

import { describe, expect, it } from "vitest";
import type { Tensor } from "../tensor.js";
import { type GradientCheck, checkGradients, randomTensor } from "../test/numeric.js";
import * as ops from "./index.js";

type Case = GradientCheck & { readonly name: string };

const r = (shape: number[], seed: number): Tensor => randomTensor(shape, { seed });

const matmulCases: [number[], number[]][] = [
  [
    [3, 4],
    [4, 5],
  ],
  [
    [2, 3, 4, 5],
    [5, 6],
  ],
  [[5], [5, 6]],
  [[2, 3, 4, 5], [5]],
  [[5], [5]],
  [[5], [2, 5, 6]],
  [
    [2, 1, 4, 5],
    [3, 5, 6],
  ],
  [
    [4, 5],
    [2, 5, 6],
  ],
  [
    [2, 3, 4, 5],
    [3, 5, 6],
  ],
];

const cases: Case[] = [
  ...matmulCases.map(
    ([a, b], i): Case => ({
      name: `MatMul [${a}] @ [${b}]`,
      inputs: { a: r(a, 10 + i), b: r(b, 20 + i) },
      build: (_, v) => ops.matmul(v.a!, v.b!),
    }),
  ),
  {
    name: "MatMul weight with symbolic batch",
    inputs: { x: r([2, 3, 4], 30), w: r([4, 5], 31) },
    dims: { x: ["B", "T", 4] },
    build: (_, v) => ops.matmul(v.x!, v.w!),
  },
  { name: "ReduceSum axis 1 keepdims", inputs: { x: r([2, 3, 4], 40) }, build: (_, v) => ops.reduceSum(v.x!, [1], true) },
  { name: "ReduceSum axes 0,2", inputs: { x: r([2, 3, 4], 41) }, build: (_, v) => ops.reduceSum(v.x!, [0, 2], false) },
  { name: "ReduceSum axis -1", inputs: { x: r([2, 3, 4], 42) }, build: (_, v) => ops.reduceSum(v.x!, [-1], false) },
  { name: "ReduceSum all axes", inputs: { x: r([2, 3, 4], 43) }, build: (_, v) => ops.reduceSum(v.x!, null, false) },
  { name: "ReduceMean axis 1", inputs: { x: r([2, 3, 4], 44) }, build: (_, v) => ops.reduceMean(v.x!, [1], false) },
  { name: "ReduceMean axes 2,0 keepdims", inputs: { x: r([2, 3, 4], 45) }, build: (_, v) => ops.reduceMean(v.x!, [2, 0], true) },
  { name: "ReduceMean all axes", inputs: { x: r([2, 3, 4], 46) }, build: (_, v) => ops.reduceMean(v.x!, null, true) },
  {
    name: "ReduceMean symbolic axes",
    inputs: { x: r([2, 3, 4], 47) },
    dims: { x: ["B", "T", 4] },
    build: (_, v) => ops.reduceMean(v.x!, [0, 1], false),
  },
  { name: "ReduceMax axis 1", inputs: { x: r([2, 3, 4], 48) }, build: (_, v) => ops.reduceMax(v.x!, [1], false) },
  { name: "ReduceMax axes 0,2 keepdims", inputs: { x: r([2, 3, 4], 49) }, build: (_, v) => ops.reduceMax(v.x!, [0, 2], true) },
  { name: "Softmax axis 1", inputs: { x: r([2, 3, 4], 50) }, build: (_, v) => ops.softmax(v.x!, 1) },
  { name: "Softmax axis -1", inputs: { x: r([2, 3, 4], 51) }, build: (_, v) => ops.softmax(v.x!, -1) },
  { name: "LogSoftmax axis 0", inputs: { x: r([2, 3, 4], 52) }, build: (_, v) => ops.logSoftmax(v.x!, 0) },
  { name: "LogSoftmax axis -1", inputs: { x: r([2, 3, 4], 53) }, build: (_, v) => ops.logSoftmax(v.x!, -1) },
  {
    name: "stable softmax through ReduceMax",
    inputs: { x: r([3, 5], 54) },
    build: (_, v) => {
      const shifted = ops.sub(v.x!, ops.reduceMax(v.x!, [1], true));
      const e = ops.exp(shifted);
      return ops.div(e, ops.reduceSum(e, [1], true));
    },
  },
];

describe("linalg gradients match finite differences", () => {
  for (const testCase of cases) {
    it(testCase.name, async () => {
      const result = await checkGradients(testCase);
      for (const [name, error] of Object.entries(result.relativeError)) expect(error, `relative error of d${name}`).toBeLessThan(1e-6);
    });
  }
});
