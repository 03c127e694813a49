// Each vector-Jacobian rule in shape.ts against central finite differences in float64,
// on shapes whose sizes all differ so that a wrong axis or permutation is caught.

import { describe, expect, it } from "vitest";
import { Tensor } from "../tensor.js";
import { type GradientCheck, checkGradients, randomTensor } from "../test/numeric.js";
import * as ops from "./index.js";

type Case = GradientCheck & { readonly name: string };

const r = (shape: number[], seed: number): Tensor => randomTensor(shape, { seed });

const cases: Case[] = [
  { name: "Reshape [2,3,4] to [4,6]", inputs: { x: r([2, 3, 4], 1) }, build: (_, v) => ops.reshape(v.x!, [4, 6]) },
  {
    name: "Reshape with symbolic batch",
    inputs: { x: r([2, 3, 4], 2) },
    dims: { x: ["B", 3, 4] },
    build: (_, v) => ops.reshape(v.x!, [0, 12]),
  },
  { name: "Transpose perm 2,0,1", inputs: { x: r([2, 3, 4], 3) }, build: (_, v) => ops.transpose(v.x!, [2, 0, 1]) },
  {
    name: "Concat three inputs on axis 1",
    inputs: { a: r([2, 3, 4], 4), b: r([2, 1, 4], 5), c: r([2, 2, 4], 6) },
    build: (_, v) => ops.concat([v.a!, v.b!, v.c!], 1),
  },
  {
    name: "Concat with a frozen input",
    inputs: { a: r([2, 3], 7), b: r([2, 5], 8) },
    wrt: ["b"],
    build: (_, v) => ops.concat([v.a!, v.b!], -1),
  },
  {
    name: "Concat symbolic sizes",
    inputs: { a: r([2, 3], 9), b: r([4, 3], 10) },
    dims: { a: ["P", 3], b: ["T", 3] },
    build: (_, v) => ops.concat([v.a!, v.b!], 0),
  },
  { name: "Slice step 1", inputs: { x: r([3, 7], 11) }, build: (_, v) => ops.slice(v.x!, [1], [5], [1]) },
  {
    name: "Slice two axes, negative start",
    inputs: { x: r([2, 3, 5], 12) },
    build: (_, v) => ops.slice(v.x!, [1, -3], [2, 100], [0, 2]),
  },
  { name: "Slice step 2", inputs: { x: r([3, 7], 13) }, build: (_, v) => ops.slice(v.x!, [1], [7], [1], [2]) },
  { name: "Slice step -1", inputs: { x: r([3, 5], 14) }, build: (_, v) => ops.slice(v.x!, [-1], [-100], [1], [-1]) },
  { name: "Slice step -2 and step 1", inputs: { x: r([4, 6], 15) }, build: (_, v) => ops.slice(v.x!, [5, 1], [0, 3], [1, 0], [-2, 1]) },
  {
    name: "Slice symbolic axis",
    inputs: { x: r([5, 3], 16) },
    dims: { x: ["T", 3] },
    build: (_, v) => ops.slice(v.x!, [-2], [Number.MAX_SAFE_INTEGER], [0]),
  },
  {
    name: "Slice symbolic axis step 2",
    inputs: { x: r([3, 7], 17) },
    dims: { x: [3, "T"] },
    build: (_, v) => ops.slice(v.x!, [1], [Number.MAX_SAFE_INTEGER], [1], [2]),
  },
  { name: "Split three ways", inputs: { x: r([2, 7, 3], 18) }, build: (_, v) => ops.split(v.x!, [2, 4, 1], 1) },
  { name: "Split with unused outputs", inputs: { x: r([2, 7, 3], 19) }, build: (_, v) => ops.split(v.x!, [2, 4, 1], 1)[1]! },
  {
    name: "Gather rows with repeats",
    inputs: { table: r([5, 3], 20), ids: Tensor.int64([2, 3], [1, 3, 1, 0, 4, 1]) },
    build: (_, v) => ops.gather(v.table!, v.ids!, 0),
  },
  {
    name: "Gather int32 and negative ids",
    inputs: { table: r([5, 3], 21), ids: Tensor.int32([4], [-1, 2, 4, 2]) },
    build: (_, v) => ops.gather(v.table!, v.ids!, 0),
  },
  {
    name: "Gather axis 1",
    inputs: { x: r([2, 5, 3], 22), ids: Tensor.int64([2, 2], [4, 0, 4, 2]) },
    build: (_, v) => ops.gather(v.x!, v.ids!, 1),
  },
  {
    name: "Gather scalar index on last axis",
    inputs: { x: r([2, 3, 4], 23), ids: Tensor.int64([], [2]) },
    build: (_, v) => ops.gather(v.x!, v.ids!, 2),
  },
  {
    name: "GatherElements axis 1",
    inputs: { x: r([2, 5], 24), ids: Tensor.int64([2, 3], [1, 3, 1, 0, 0, 4]) },
    build: (_, v) => ops.gatherElements(v.x!, v.ids!, 1),
  },
  {
    name: "GatherElements axis 0",
    inputs: { x: r([3, 4], 25), ids: Tensor.int32([2, 4], [2, 0, 1, 2, 2, 2, 0, 1]) },
    build: (_, v) => ops.gatherElements(v.x!, v.ids!, 0),
  },
  { name: "Unsqueeze axes 0,2", inputs: { x: r([3, 4], 26) }, build: (_, v) => ops.unsqueeze(v.x!, [0, 2]) },
  { name: "Squeeze axes 1,-1", inputs: { x: r([3, 1, 4, 1], 27) }, build: (_, v) => ops.squeeze(v.x!, [1, -1]) },
  { name: "Expand [3,1] to [2,3,4]", inputs: { x: r([3, 1], 28) }, build: (_, v) => ops.expand(v.x!, [2, 3, 4]) },
  {
    name: "Expand to a symbolic shape",
    inputs: { x: r([1, 4], 29), like: r([3, 4], 30) },
    dims: { like: ["T", 4] },
    wrt: ["x"],
    build: (_, v) => ops.expand(v.x!, v.like!),
  },
  { name: "Pad before and after", inputs: { x: r([2, 3], 31) }, build: (_, v) => ops.pad(v.x!, [1, 0, 2, 1]) },
  {
    name: "Pad with a symbolic axis",
    inputs: { x: r([2, 3], 32) },
    dims: { x: ["T", 3] },
    build: (_, v) => ops.pad(v.x!, [1, 2, 3, 0]),
  },
];

describe("shape gradients match finite differences", () => {
  for (const testCase of cases) {
    it(testCase.name, async () => {
      const result = await checkGradients(testCase);
      for (const [name, error] of Object.entries(result.relativeError)) expect(error, `relative error of d${name}`).toBeLessThan(1e-6);
    });
  }
});

describe("shape operators without gradient", () => {
  it("Shape, Size and ConstantOfShape give zeros", async () => {
    await checkGradients({
      inputs: { x: r([2, 3], 33), y: r([2, 3], 34) },
      build: (_, v) => {
        const zeros = ops.zerosLike(v.x!);
        const count = ops.cast(ops.size(v.x!), "float64");
        return ops.add(ops.add(zeros, count), ops.mul(v.y!, 3));
      },
      zeroGradient: ["x"],
    });
  });
});
