/**
 * Compile cost benchmark: wall time per context token, the step graph's achieved FLOP/s as
 * a share of a plain MatMul's rate measured in the same run, and how many steps it takes
 * to reach 90% of the final reconstruction accuracy.
 */

import os from "node:os";
import { type CompileOptions, builtInQueryPool, compileContext, sinkCache } from "@lcc/compiler";
import { memoryPrefix, scoreSequence } from "@lcc/evaluation";
import { type LlamaConfig, LanguageModel, type LoadedModel, createRandomModel, loadModel, smolLM2Shape } from "@lcc/models";
import { readFile } from "node:fs/promises";
import { matmulFlopsPerSecond } from "./foundation.js";

/** Multiply-add FLOPs of a forward pass over `tokens` new tokens attending to `keys` keys. */
function forwardFlops(config: LlamaConfig, tokens: number, keys: number, logits: boolean): number {
  const { hiddenSize: D, intermediateSize: F, numHeads: H, numKvHeads: Hkv, headDim: Dh, vocabSize: V, numLayers: L } = config;
  const projections = D * H * Dh + 2 * D * Hkv * Dh + H * Dh * D + 3 * D * F;
  return 2 * tokens * (L * (projections + 2 * keys * H * Dh) + (logits ? D * V : 0));
}

interface CostRow {
  readonly model: string;
  readonly contextTokens: number;
  readonly secondsPerToken: number;
  readonly stepSeconds: number;
  readonly share: number;
}

async function measureCompile(label: string, model: LoadedModel, context: number[], pool: number[][], options: Partial<CompileOptions>, matmulRate: number): Promise<CostRow> {
  const stepTimes: number[] = [];
  let last = performance.now();
  const compiled = await compileContext({
    model,
    contextIds: context,
    queryPool: pool,
    options,
    onProgress: (event) => {
      if (event.type !== "step") return;
      const now = performance.now();
      stepTimes.push(now - last);
      last = now;
    },
  });
  // The first step includes session start-up; use the median of the rest.
  const steady = stepTimes.slice(1).sort((a, b) => a - b);
  const stepSeconds = (steady[Math.floor(steady.length / 2)] ?? stepTimes[0] ?? 0) / 1000;

  // Step FLOPs: encoder over L+K tokens and reader over every sample, then the backward
  // pass. Frozen weights get no weight gradient, so the backward pass costs about one more
  // forward pass of matrix products (input gradients only; the LoRA products are small).
  const { config } = model;
  const L = context.length + 1;
  const K = compiled.bufferTokens;
  const queries = options.queries ?? 64;
  const answer = options.answerTokens ?? 24;
  const queryLength = (options.queryTokens ?? 8) + answer - 1;
  const forward =
    forwardFlops(config, L + K, L + K, false) + forwardFlops(config, L - 1, K + L, true) + queries * forwardFlops(config, queryLength, K + 1 + queryLength, true);
  return {
    model: label,
    contextTokens: context.length,
    secondsPerToken: compiled.wallSeconds / context.length,
    stepSeconds,
    share: (2 * forward) / stepSeconds / matmulRate,
  };
}

/** Steps after which reconstruction accuracy first reaches 90% of its value at the last budget. */
async function stepsToNinetyPercent(model: LoadedModel, context: number[], pool: number[][], loss: "kl" | "ce"): Promise<string> {
  const reader = new LanguageModel(model, {});
  const sink = await sinkCache(reader);
  const budgets = [0, 10, 25, 50, 100];
  const accuracy: number[] = [];
  const seconds: number[] = [];
  for (const steps of budgets) {
    const compiled = await compileContext({ model, contextIds: context, queryPool: pool, options: { steps, queries: 64, reconstructionLoss: loss } });
    const prefix = memoryPrefix(sink, compiled.layers, compiled.positions);
    const score = await scoreSequence(reader, prefix, [model.config.bosTokenId, ...context.slice(0, -1)], context);
    accuracy.push(score.accuracy);
    seconds.push(compiled.wallSeconds);
  }
  await reader.dispose();
  const target = 0.9 * (accuracy.at(-1) as number);
  const index = accuracy.findIndex((a) => a >= target);
  const trail = budgets.map((steps, i) => `${steps}: ${(accuracy[i] as number).toFixed(3)}`).join(", ");
  return `| ${loss} | ${trail} | ${budgets[index]} steps, ${(seconds[index] as number).toFixed(1)} s |`;
}

export async function runCompileCostBenchmark(): Promise<string> {
  const threads = os.availableParallelism();
  const matmulRate = await matmulFlopsPerSecond(512, 576, 1536, threads);
  const stories = await loadModel("stories260K");
  const storyPool = builtInQueryPool("story-openings").map((text) => stories.tokenizer.encode(text, { addBos: false }));
  const storiesPath = process.env.LCC_STORIES;
  if (storiesPath === undefined) throw new Error("set LCC_STORIES to the TinyStories JSONL file");
  const text = (JSON.parse((await readFile(storiesPath, "utf8")).split("\n")[0] as string) as { text: string }).text;
  const storyIds = stories.tokenizer.encode(text, { addBos: false });
  const storyContext = storyIds.slice(0, Math.floor(storyIds.length / 2));

  const rows: CostRow[] = [];
  rows.push(await measureCompile("stories260K", stories.model, storyContext, storyPool, { steps: 30, queries: 64 }, matmulRate));
  const smol = createRandomModel(smolLM2Shape(), 1);
  const smolContext = Array.from({ length: 256 }, (_, i) => (i * 7919 + 3) % smol.config.vocabSize);
  const smolPool = Array.from({ length: 8 }, (_, q) => Array.from({ length: 8 }, (_, i) => (q * 131 + i * 17 + 5) % smol.config.vocabSize));
  rows.push(await measureCompile("SmolLM2-135M shape, random weights", smol, smolContext, smolPool, { steps: 4, queries: 8 }, matmulRate));

  const lines = [
    `MatMul 512×576×1536 float32 rate in this run: ${(matmulRate / 1e9).toFixed(1)} GFLOP/s (${threads} threads).`,
    "",
    "| model | context tokens | compile seconds per context token | seconds per step | step FLOP/s / MatMul rate |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.model} | ${r.contextTokens} | ${r.secondsPerToken.toFixed(4)} | ${r.stepSeconds.toFixed(3)} | ${r.share.toFixed(2)} |`),
    "",
    "Steps to 90% of the final reconstruction accuracy (stories260K, first story's first half, ratio 16, 64 queries):",
    "",
    "| reconstruction loss | accuracy after N steps | reached 90% at |",
    "| --- | --- | --- |",
    await stepsToNinetyPercent(stories.model, storyContext, storyPool, "kl"),
    await stepsToNinetyPercent(stories.model, storyContext, storyPool, "ce"),
  ];
  return lines.join("\n");
}
