/**
 * Forward-pass benchmark: prefill and decode tokens/s, and the prefill's achieved FLOP/s
 * as a share of a plain 512×576×1536 MatMul measured in the same run.
 */

import os from "node:os";
import { type LlamaConfig, LanguageModel, type LoadedModel, createRandomModel, loadModel, smolLM2Shape } from "@lcc/models";
import { Graph, Session, Tensor, ops } from "@lcc/tensor";
import { formatRate, medianMs } from "./timing.js";

export interface ForwardBenchmarkRow {
  readonly model: string;
  readonly prefillTokens: number;
  readonly prefillTokensPerSecond: number;
  readonly prefillFlopsPerSecond: number;
  readonly decodeTokensPerSecond: number;
}

function randomTensor(shape: number[], seed: number): Tensor {
  let state = seed >>> 0;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state / 2 ** 32 - 0.5;
  }
  return new Tensor("float32", shape, data);
}

/** FLOP/s of one [M, K] @ [K, N] float32 MatMul with a constant right-hand side. */
export async function matmulFlopsPerSecond(m: number, k: number, n: number, threads: number): Promise<number> {
  const graph = new Graph("matmul");
  const a = graph.input("a", "float32", [m, k]);
  const b = graph.initializer("b", randomTensor([k, n], 1));
  graph.output(ops.matmul(a, b), "c");
  const session = await Session.create(graph, { threads, cacheDir: null });
  const input = randomTensor([m, k], 2);
  const ms = await medianMs(() => session.run({ a: input }), { warmup: 2, repeats: 9 });
  await session.dispose();
  return (2 * m * k * n) / (ms / 1000);
}

/** Multiply-add FLOPs of a prefill of T tokens, counting the full T×T attention products the graph computes. */
export function prefillFlops(config: LlamaConfig, tokens: number): number {
  const { hiddenSize: D, intermediateSize: F, numHeads: H, numKvHeads: Hkv, headDim: Dh, vocabSize: V, numLayers: L } = config;
  const projections = D * H * Dh + 2 * D * Hkv * Dh + H * Dh * D + 3 * D * F;
  const attention = 2 * tokens * H * Dh; // QK^T and PV per query token
  return 2 * tokens * (L * (projections + attention) + D * V / tokens);
}

export async function benchmarkForward(name: string, model: LoadedModel, prefillTokens: number, threads: number): Promise<ForwardBenchmarkRow> {
  const languageModel = new LanguageModel(model, { threads });
  const vocab = model.config.vocabSize;
  const ids = Array.from({ length: prefillTokens }, (_, i) => (i * 7919 + 3) % vocab);

  // Prefill: the whole prompt in one run.
  const prefillMs = await medianMs(() => languageModel.forward({ ids }), { warmup: 1, repeats: 5 });

  // Decode: 32 single-token steps after a 64-token prompt.
  const steps = 32;
  const start = await languageModel.forward({ ids: ids.slice(0, 64) });
  await languageModel.forward({ ids: [5], cache: start.cache });
  let cache = start.cache;
  const begin = performance.now();
  for (let i = 0; i < steps; i++) cache = (await languageModel.forward({ ids: [(i * 31) % vocab], cache })).cache;
  const decodeMs = performance.now() - begin;
  await languageModel.dispose();

  return {
    model: name,
    prefillTokens,
    prefillTokensPerSecond: prefillTokens / (prefillMs / 1000),
    prefillFlopsPerSecond: prefillFlops(model.config, prefillTokens) / (prefillMs / 1000),
    decodeTokensPerSecond: steps / (decodeMs / 1000),
  };
}

export async function runForwardBenchmark(): Promise<string> {
  const threads = os.availableParallelism();
  const matmul = await matmulFlopsPerSecond(512, 576, 1536, threads);
  const rows: ForwardBenchmarkRow[] = [];

  const stories = await loadModel("stories260K");
  rows.push(await benchmarkForward("stories260K", stories.model, 512, threads));
  rows.push(await benchmarkForward("SmolLM2-135M shape, random weights", createRandomModel(smolLM2Shape(), 1), 512, threads));

  const lines = [
    `MatMul 512×576×1536 float32: ${formatRate(matmul, "FLOP/s")} (${threads} threads)`,
    "",
    "| model | prefill tokens | prefill tokens/s | prefill FLOP/s | share of MatMul rate | decode tokens/s |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.prefillTokens} | ${r.prefillTokensPerSecond.toFixed(0)} | ${formatRate(r.prefillFlopsPerSecond, "FLOP/s")} | ${(r.prefillFlopsPerSecond / matmul).toFixed(2)} | ${r.decodeTokensPerSecond.toFixed(1)} |`,
    ),
  ];
  return lines.join("\n");
}
