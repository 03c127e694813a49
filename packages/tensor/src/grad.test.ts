import { describe, expect, it } from "vitest";
import { GraphError, InvalidArgumentError, LccError, MissingGradientError } from "./errors.js";
import { addGradientOutputs, grad } from "./grad.js";
import { Graph, type OpDefinition, type Value } from "./graph.js";
import * as ops from "./ops/index.js";
import { Session } from "./runtime/session.js";
import { Tensor } from "./tensor.js";
import { expectTensorClose, randomTensor, valuesOf } from "./test/numeric.js";

async function run(graph: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await Session.create(graph, { cacheDir: null, threads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.dispose();
  }
}

/** The op types of the nodes appended after `from`. */
const opsAfter = (graph: Graph, from: number): string[] => graph.nodes.slice(from).map((n) => n.op.opType);

const identity3 = Tensor.float64([3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]);

describe("grad on hand-checkable graphs", () => {
  it("x @ I passes the seed through", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const upstream = g.input("upstream", "float64", [2, 3]);
    const y = ops.matmul(x, g.initializer("eye", identity3)); // [2, 3]
    const [dx] = grad(g, y, [x], { seed: upstream });
    g.output(dx as Value, "dx");
    const seed = Tensor.float64([2, 3], [1, -2, 3, -4, 5, -6]);
    const out = await run(g, { x: randomTensor([2, 3]), upstream: seed });
    expectTensorClose(out.dx, seed, {}, "dx");
  });

  it("x @ I under a weighted sum loss", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const u = g.input("u", "float64", [2, 3]);
    const loss = ops.reduceSum(ops.mul(ops.matmul(x, g.initializer("eye", identity3)), u), null, false); // []
    const { gradients } = addGradientOutputs(g, loss, [x]);
    expect(gradients[0]?.name).toBe("dx");
    const weights = Tensor.float64([2, 3], [0.5, 1, 1.5, 2, 2.5, 3]);
    const out = await run(g, { x: randomTensor([2, 3]), u: weights });
    expectTensorClose(out.dx, weights, {}, "dx");
  });

  it("broadcast sum reduces to input shapes", async () => {
    // [3, 1, 4] + [2, 4] -> [3, 2, 4]: each a element is used twice, each b element 3 times.
    const g = new Graph();
    const a = g.input("a", "float64", [3, 1, 4]);
    const b = g.input("b", "float64", [2, 4]);
    const loss = ops.reduceSum(ops.add(a, b), null, false);
    addGradientOutputs(g, loss, [a, b]);
    const out = await run(g, { a: randomTensor([3, 1, 4], { seed: 1 }), b: randomTensor([2, 4], { seed: 2 }) });
    expectTensorClose(out.da, { dtype: "float64", shape: [3, 1, 4], values: new Array(12).fill(2) }, {}, "da");
    expectTensorClose(out.db, { dtype: "float64", shape: [2, 4], values: new Array(8).fill(3) }, {}, "db");
  });

  it("unused input gets zeros", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const unused = g.input("unused", "float32", [4, 5]);
    const loss = ops.reduceSum(ops.mul(x, x), null, false);
    const before = g.nodes.length;
    const [, dunused] = grad(g, loss, [x, unused]);
    g.output(dunused as Value, "dunused");
    g.output(loss, "loss");
    // Zeros come from Shape + ConstantOfShape; nothing else reads the unused input.
    expect(g.nodes.filter((n) => n.inputs.includes(unused)).map((n) => n.op.opType)).toEqual(["Shape"]);
    expect(opsAfter(g, before)).toContain("ConstantOfShape");
    const out = await run(g, { x: randomTensor([2, 3]), unused: randomTensor([4, 5], { dtype: "float32" }) });
    expectTensorClose(out.dunused, { dtype: "float32", shape: [4, 5], values: new Array(20).fill(0) }, {}, "dunused");
  });

  it("accumulates over several consumers", async () => {
    // loss = sum(x * x + 3 x) -> dx = 2 x + 3
    const g = new Graph();
    const x = g.input("x", "float64", [4]);
    const loss = ops.reduceSum(ops.add(ops.mul(x, x), ops.mul(x, 3)), null, false);
    const marked = addGradientOutputs(g, loss, [x]);
    const values = [0.5, -1, 2, 0];
    const out = await run(g, { x: Tensor.float64([4], values) });
    expectTensorClose(out.dx, { dtype: "float64", shape: [4], values: values.map((v) => 2 * v + 3) }, {}, "dx");
    const expectedLoss = values.reduce((sum, v) => sum + v * v + 3 * v, 0);
    expectTensorClose(out[marked.loss.name], { dtype: "float64", shape: [], values: [expectedLoss] }, {}, "loss");
  });

  it("stopGradient blocks the gradient", async () => {
    // loss = sum(stop(x) * x) -> dx = x, not 2 x
    const g = new Graph();
    const x = g.input("x", "float64", [3]);
    const loss = ops.reduceSum(ops.mul(ops.stopGradient(x), x), null, false);
    addGradientOutputs(g, loss, [x]);
    const values = [1, -2, 3];
    const out = await run(g, { x: Tensor.float64([3], values) });
    expectTensorClose(out.dx, { dtype: "float64", shape: [3], values }, {}, "dx");
  });

  it("stopGradient on the only path gives zeros", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [3]);
    const loss = ops.reduceSum(ops.exp(ops.stopGradient(x)), null, false);
    const before = g.nodes.length;
    addGradientOutputs(g, loss, [x]);
    expect(opsAfter(g, before)).not.toContain("Exp");
    expect(opsAfter(g, before)).not.toContain("Mul");
    const out = await run(g, { x: Tensor.float64([3], [1, 2, 3]) });
    expectTensorClose(out.dx, { dtype: "float64", shape: [3], values: [0, 0, 0] }, {}, "dx");
  });

  it("gradient with respect to an intermediate value", async () => {
    // h = 2 x; loss = sum(h * h) -> dh = 2 h = 4 x, dx = 8 x
    const g = new Graph();
    const x = g.input("x", "float64", [2]);
    const h = ops.mul(x, 2);
    const loss = ops.reduceSum(ops.mul(h, h), null, false);
    addGradientOutputs(g, loss, [h, x], ["dh", "dx"]);
    const out = await run(g, { x: Tensor.float64([2], [1, -3]) });
    expectTensorClose(out.dh, { dtype: "float64", shape: [2], values: [4, -12] }, {}, "dh");
    expectTensorClose(out.dx, { dtype: "float64", shape: [2], values: [8, -24] }, {}, "dx");
  });

  it("ReduceMax splits ties equally", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 4]);
    const loss = ops.reduceSum(ops.reduceMax(x, [1], false), null, false);
    addGradientOutputs(g, loss, [x]);
    const out = await run(g, { x: Tensor.float64([2, 4], [1, 3, 3, 2, 5, 5, 5, 5]) });
    expectTensorClose(out.dx, { dtype: "float64", shape: [2, 4], values: [0, 0.5, 0.5, 0, 0.25, 0.25, 0.25, 0.25] }, {}, "dx");
  });

  it("Max sends ties to the first input", async () => {
    const g = new Graph();
    const a = g.input("a", "float64", [3]);
    const b = g.input("b", "float64", [3]);
    const loss = ops.reduceSum(ops.max(a, b), null, false);
    addGradientOutputs(g, loss, [a, b]);
    const out = await run(g, { a: Tensor.float64([3], [1, 2, 3]), b: Tensor.float64([3], [0, 2, 4]) });
    expectTensorClose(out.da, { dtype: "float64", shape: [3], values: [1, 1, 0] }, {}, "da");
    expectTensorClose(out.db, { dtype: "float64", shape: [3], values: [0, 0, 1] }, {}, "db");
  });

  it("symbolic batch is summed for a bias", async () => {
    // y = x + bias with x [B, 3]: dbias = B ones
    const g = new Graph();
    const x = g.input("x", "float64", ["B", 3]);
    const bias = g.input("bias", "float64", [3]);
    const loss = ops.reduceSum(ops.add(x, bias), null, false);
    addGradientOutputs(g, loss, [bias]);
    const session = await Session.create(g, { cacheDir: null, threads: 1 });
    for (const batch of [1, 4]) {
      const out = await session.run({ x: randomTensor([batch, 3]), bias: randomTensor([3]) });
      expectTensorClose(out.dbias, { dtype: "float64", shape: [3], values: [batch, batch, batch] }, {}, `dbias for B = ${batch}`);
    }
    await session.dispose();
  });
});

describe("grad emits no work for frozen values", () => {
  it("frozen weight gets no gradient work", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const w = g.initializer("w", randomTensor([3, 4]));
    const loss = ops.reduceSum(ops.matmul(x, w), null, false);
    const before = g.nodes.length;
    grad(g, loss, [x]);
    // ReduceSum: Unsqueeze + Expand; MatMul: dx = dy @ wᵀ only, no xᵀ @ dy for w.
    expect(opsAfter(g, before)).toEqual(["Unsqueeze", "Expand", "Transpose", "MatMul"]);
    expect(g.nodes.slice(before).some((n) => n.inputs.includes(x))).toBe(false);
  });

  it("branch independent of wrt is not differentiated", () => {
    // loss = sum(x * exp(sin(c))): the sin/exp chain on c only feeds the forward pass.
    const g = new Graph();
    const x = g.input("x", "float64", [3]);
    const c = g.input("c", "float64", [3]);
    const scale = ops.exp(ops.sin(c));
    const loss = ops.reduceSum(ops.mul(x, scale), null, false);
    const before = g.nodes.length;
    grad(g, loss, [x]);
    expect(opsAfter(g, before)).toEqual(["Unsqueeze", "Expand", "Mul"]);
  });

  it("nodes after the loss are ignored", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [3]);
    const loss = ops.reduceSum(x, null, false);
    ops.exp(ops.mul(x, 2)); // computed from x but not part of the loss
    const before = g.nodes.length;
    grad(g, loss, [x]);
    expect(opsAfter(g, before)).toEqual(["Unsqueeze", "Expand"]);
  });

  it("operator without a rule off the path is fine", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [3]);
    const c = g.input("c", "float64", [3]);
    const loss = ops.reduceSum(ops.mul(x, g.add(NO_RULE, [c])[0] as Value), null, false);
    expect(() => grad(g, loss, [x])).not.toThrow();
  });
});

// An operator without a vector-Jacobian rule (Erf has none here).
const NO_RULE: OpDefinition = {
  opType: "Erf",
  infer: ([x]) => [{ dtype: (x as Value).dtype, shape: (x as Value).shape }],
};

describe("grad errors", () => {
  it("missing rule names the operator", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [3]);
    const loss = ops.reduceSum(g.add(NO_RULE, [x])[0] as Value, null, false);
    expect(() => grad(g, loss, [x])).toThrow(MissingGradientError);
    expect(() => grad(g, loss, [x])).toThrow(
      /operator Erf has no gradient rule, so node Erf_\d+ \(inputs: x: float64\[3\]\) cannot be differentiated/,
    );
    try {
      grad(g, loss, [x]);
    } catch (error) {
      expect(error).toBeInstanceOf(GraphError);
      expect(LccError.isInstance(error)).toBe(true);
      expect((error as MissingGradientError).name).toBe("MissingGradientError");
      expect((error as MissingGradientError).details.opType).toBe("Erf");
    }
  });

  it("non-scalar loss is rejected", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const y = ops.exp(x);
    expect(() => grad(g, y, [x])).toThrow(InvalidArgumentError);
    expect(() => grad(g, y, [x])).toThrow(
      /loss Exp_\d+_y: float64\[2, 3\] must hold a single element .* but has shape \[2, 3\]; reduce it/,
    );
  });

  it("symbolic loss shape is rejected", () => {
    const g = new Graph();
    const x = g.input("x", "float64", ["B"]);
    expect(() => grad(g, ops.exp(x), [x])).toThrow(/must hold a single element .* but has shape \[B\]/);
  });

  it("single-element loss of rank 2 is accepted", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const loss = ops.reduceSum(x, null, true); // [1, 1]
    addGradientOutputs(g, loss, [x]);
    const out = await run(g, { x: randomTensor([2, 3]) });
    expectTensorClose(out.dx, { dtype: "float64", shape: [2, 3], values: new Array(6).fill(1) }, {}, "dx");
  });

  it("integer wrt is rejected", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [5, 3]);
    const ids = g.input("ids", "int64", [2]);
    const loss = ops.reduceSum(ops.gather(x, ids, 0), null, false);
    expect(() => grad(g, loss, [x, ids])).toThrow(InvalidArgumentError);
    expect(() => grad(g, loss, [x, ids])).toThrow(/wrt\[1\] ids: int64\[2\] has dtype int64, but gradients exist only for float values/);
  });

  it("value from another graph is rejected", () => {
    const g = new Graph("main");
    const other = new Graph("other");
    const x = g.input("x", "float64", [3]);
    const stranger = other.input("stranger", "float64", [3]);
    const loss = ops.reduceSum(x, null, false);
    expect(() => grad(g, loss, [stranger])).toThrow(InvalidArgumentError);
    expect(() => grad(g, loss, [stranger])).toThrow(/wrt\[0\] stranger: float64\[3\] belongs to graph "other", not to the graph "main"/);
    expect(() => grad(other, loss, [stranger])).toThrow(/loss .* belongs to graph "main", not to the graph "other"/);
  });

  it("lists every argument problem at once", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const ids = g.input("ids", "int32", [2]);
    expect(() => grad(g, x, [ids, x])).toThrow(/must hold a single element[\s\S]*wrt\[0\] ids: int32\[2\] has dtype int32/);
  });

  it("seed must match the loss", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const seed = g.input("seed", "float64", [3, 2]);
    expect(() => grad(g, ops.exp(x), [x], { seed })).toThrow(
      /options.seed seed: float64\[3, 2\] must have the loss's dtype and shape \(float64\[2, 3\]\)/,
    );
  });

  it("gradient names must match wrt", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [3]);
    const loss = ops.reduceSum(x, null, false);
    expect(() => addGradientOutputs(g, loss, [x], ["a", "b"])).toThrow(/got 2 names for 1 wrt values/);
    expect(() => addGradientOutputs(g, loss, [x, x], ["a", "a"])).toThrow(/must be unique, but a repeat/);
  });
});

describe("addGradientOutputs", () => {
  it("returns loss and gradients in one run", async () => {
    // loss = sum(w * x²) -> dx = 2 w x, dw = x²
    const g = new Graph();
    const x = g.input("x", "float64", [3]);
    const w = g.input("w", "float64", [3]);
    const loss = ops.reduceSum(ops.mul(w, ops.mul(x, x)), null, false);
    const marked = addGradientOutputs(g, loss, [x, w], ["grad_x", "grad_w"]);
    expect(g.outputs.map((o) => o.name)).toEqual([marked.loss.name, "grad_x", "grad_w"]);
    const out = await run(g, { x: Tensor.float64([3], [1, 2, -1]), w: Tensor.float64([3], [3, 0.5, 2]) });
    expect(valuesOf(out[marked.loss.name] as Tensor)).toEqual([3 + 2 + 2]);
    expectTensorClose(out.grad_x, { dtype: "float64", shape: [3], values: [6, 2, -4] }, {}, "grad_x");
    expectTensorClose(out.grad_w, { dtype: "float64", shape: [3], values: [1, 4, 1] }, {}, "grad_w");
  });
});
