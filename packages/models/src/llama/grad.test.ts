// Gradients of a tiny random Llama's cross-entropy loss with respect to LoRA matrices on
// the q, k, v and o projections of every layer and to the input embeddings, checked
// against central finite differences in float64.
//
// Legend: B batch, T tokens, D model width, V vocabulary, R LoRA rank.

import { Graph, Session, Tensor, type Value, addGradientOutputs, ops } from "@lcc/tensor";
import { describe, expect, it } from "vitest";

import type { LoadedModel } from "../config.js";
import { SeededRandom, createRandomModel, randomConfig } from "../random-model.js";
import { type ProjectionSite, addLlamaParameters, llamaForward, llamaLogits } from "./graph.js";

const CONFIG = randomConfig({ vocabSize: 24, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4, numKvHeads: 2 });
const BATCH = 2;
const TOKENS = 4;
const RANK = 2;
const LORA_SCALE = 0.5; // alpha / R
const TARGETS = ["q", "k", "v", "o"] as const;
/** Projection weights are scaled from std 0.02 up to 0.3 so that logits and gradients are far from zero. */
const WEIGHT_SCALE = 15;

/** Creates the tiny random model with its projection and embedding weights scaled by WEIGHT_SCALE. */
function scaledModel(): LoadedModel {
  const model = createRandomModel(CONFIG, 11);
  const weights = new Map<string, Tensor>();
  for (const [name, tensor] of model.weights) {
    const scale = name.endsWith("norm.weight") ? 1 : WEIGHT_SCALE;
    weights.set(
      name,
      Tensor.float32(
        tensor.shape,
        Array.from(tensor.data as Float32Array, (v) => v * scale),
      ),
    );
  }
  return { config: CONFIG, weights };
}

function normalTensor(shape: number[], std: number, random: SeededRandom): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.float64(
    shape,
    Array.from({ length: size }, () => std * random.normal()),
  );
}

/** Input and output widths of each LoRA target. */
function loraShapes(target: (typeof TARGETS)[number]): { inWidth: number; outWidth: number } {
  const { hiddenSize: D, numHeads: H, numKvHeads: Hkv, headDim: Dh } = CONFIG;
  if (target === "q") return { inWidth: D, outWidth: H * Dh };
  if (target === "o") return { inWidth: H * Dh, outWidth: D };
  return { inWidth: D, outWidth: Hkv * Dh };
}

interface LossGraph {
  readonly graph: Graph;
  readonly loss: Value;
  /** Graph inputs to differentiate: the embeddings, then A and B of every LoRA. */
  readonly wrt: readonly Value[];
}

/**
 * Builds loss = -mean(log_softmax(logits)[target]) over every token, with
 * y = x @ W + scale * (x @ A) @ B on q, k, v and o of every layer.
 */
function buildLossGraph(model: LoadedModel): LossGraph {
  const graph = new Graph("tiny-llama-lora-loss");
  const parameters = addLlamaParameters(graph, model, "float64");
  const embeddings = graph.input("embeddings", "float64", ["B", "T", CONFIG.hiddenSize]); // [B, T, D]
  const positions = graph.input("positions", "int64", ["B", "T"]); // [B, T]
  const targets = graph.input("targets", "int64", ["B", "T", 1]); // [B, T, 1]

  // One LoRA pair per layer and target: A [in, R], B [R, out].
  const lora = new Map<string, { a: Value; b: Value }>();
  const wrt: Value[] = [embeddings];
  for (let layer = 0; layer < CONFIG.numLayers; layer++) {
    for (const target of TARGETS) {
      const { inWidth, outWidth } = loraShapes(target);
      const a = graph.input(`lora.${layer}.${target}.a`, "float64", [inWidth, RANK]);
      const b = graph.input(`lora.${layer}.${target}.b`, "float64", [RANK, outWidth]);
      lora.set(`${layer}.${target}`, { a, b });
      wrt.push(a, b);
    }
  }
  const adapter = (site: ProjectionSite, x: Value, y: Value): Value => {
    const pair = lora.get(`${site.layer}.${site.target}`);
    if (pair === undefined) return y;
    return ops.add(y, ops.mul(ops.matmul(ops.matmul(x, pair.a), pair.b), LORA_SCALE)); // [B, T, out]
  };

  const forward = llamaForward(parameters, { embeddings, positions, past: null, adapter });
  const logits = llamaLogits(parameters, forward.hidden); // [B, T, V]
  const logProbabilities = ops.logSoftmax(logits, -1); // [B, T, V]
  const picked = ops.gatherElements(logProbabilities, targets, 2); // [B, T, 1]
  const loss = ops.neg(ops.reduceMean(picked, null, false)); // []
  return { graph, loss, wrt };
}

function feedsFor(wrt: readonly Value[]): Record<string, Tensor> {
  const random = new SeededRandom(5);
  const feeds: Record<string, Tensor> = {};
  for (const value of wrt) {
    const shape = value.name === "embeddings" ? [BATCH, TOKENS, CONFIG.hiddenSize] : (value.shape as number[]);
    feeds[value.name] = normalTensor(shape, value.name === "embeddings" ? 1 : 0.5, random);
  }
  const positions = Array.from({ length: BATCH * TOKENS }, (_, i) => (i % TOKENS) + 3 * Math.floor(i / TOKENS));
  feeds.positions = Tensor.int64([BATCH, TOKENS], positions);
  feeds.targets = Tensor.int64(
    [BATCH, TOKENS, 1],
    Array.from({ length: BATCH * TOKENS }, () => Math.floor(random.next() * CONFIG.vocabSize)),
  );
  return feeds;
}

function scalarOf(tensor: Tensor | undefined): number {
  if (tensor === undefined) throw new Error("the session returned no loss");
  return (tensor.data as Float64Array)[0] as number;
}

describe("tiny Llama LoRA gradients", () => {
  it("match finite differences in float64", async () => {
    const model = scaledModel();

    // Training graph: the loss and every gradient in one run.
    const training = buildLossGraph(model);
    const nodesBefore = training.graph.nodes.length;
    const marked = addGradientOutputs(training.graph, training.loss, training.wrt);
    const backward = training.graph.nodes.slice(nodesBefore);

    // Frozen weights get no gradient: every rank-2 matrix product of the backward part
    // computes a LoRA gradient [in, R] or [R, out], never a [in, out] weight gradient.
    const weightProducts = backward.filter((n) => n.op.opType === "MatMul" && n.outputs[0]?.rank === 2);
    expect(weightProducts.length).toBe(2 * TARGETS.length * CONFIG.numLayers);
    for (const node of weightProducts) expect(node.outputs[0]?.shape).toContain(RANK);

    const forwardOnly = buildLossGraph(model);
    forwardOnly.graph.output(forwardOnly.loss, "loss");
    const feeds = feedsFor(training.wrt);
    const trainingSession = await Session.create(training.graph, { cacheDir: null, threads: 1 });
    const forwardSession = await Session.create(forwardOnly.graph, { cacheDir: null, threads: 1 });
    try {
      const results = await trainingSession.run(feeds);
      const loss = scalarOf(results[marked.loss.name]);
      expect(loss).toBeCloseTo(scalarOf((await forwardSession.run(feeds)).loss), 12);
      expect(loss).toBeGreaterThan(0.5);

      // Central differences for every element of every wrt value.
      const eps = 1e-5;
      const lossAt = async (name: string, tensor: Tensor): Promise<number> =>
        scalarOf((await forwardSession.run({ ...feeds, [name]: tensor })).loss);
      for (const [i, value] of training.wrt.entries()) {
        const input = feeds[value.name] as Tensor;
        const analytic = results[(marked.gradients[i] as Value).name] as Tensor;
        expect(analytic.shape, `d${value.name} shape`).toEqual(input.shape);
        expect(analytic.dtype, `d${value.name} dtype`).toBe("float64");

        const data = input.data as Float64Array;
        let maxDiff = 0;
        let maxNumeric = 0;
        let worst = "";
        for (let j = 0; j < data.length; j++) {
          const plus = data.slice();
          const minus = data.slice();
          plus[j] = (data[j] as number) + eps;
          minus[j] = (data[j] as number) - eps;
          const fPlus = await lossAt(value.name, new Tensor("float64", input.shape, plus));
          const fMinus = await lossAt(value.name, new Tensor("float64", input.shape, minus));
          const numeric = (fPlus - fMinus) / (2 * eps);
          const actual = (analytic.data as Float64Array)[j] as number;
          maxNumeric = Math.max(maxNumeric, Math.abs(numeric));
          if (Math.abs(actual - numeric) > maxDiff) {
            maxDiff = Math.abs(actual - numeric);
            worst = `element ${j}: analytic ${actual}, numeric ${numeric}`;
          }
        }
        expect(maxNumeric, `numeric d${value.name} is not all zero`).toBeGreaterThan(1e-4);
        expect(maxDiff / maxNumeric, `relative error of d${value.name} (worst ${worst})`).toBeLessThan(1e-6);
      }
    } finally {
      await trainingSession.dispose();
      await forwardSession.dispose();
    }
  });
});
