/**
 * Serving benchmark: time to first token and key/value bytes held when the model reads a
 * memory instead of the full context, for the same question, model and run.
 */

import { readFile } from "node:fs/promises";
import { type MemoryLayer, memoryCache } from "@lcc/compiler";
import { type KvCache, LanguageModel, type LoadedModel, createRandomModel, loadModel, smolLM2Shape } from "@lcc/models";
import { Tensor } from "@lcc/tensor";
import { medianMs } from "./timing.js";

interface ServingRow {
  readonly model: string;
  readonly contextTokens: number;
  readonly memoryTokens: number;
  readonly fullMs: number;
  readonly memoryMs: number;
  readonly fullBytes: number;
  readonly memoryBytes: number;
}

function cacheBytes(cache: KvCache): number {
  return [...cache.keys, ...cache.values].reduce((sum, t) => sum + t.data.byteLength, 0);
}

/** Builds a memory of K positions with pseudo-random keys and values, because timing does not depend on their values. */
function syntheticMemory(model: LoadedModel, K: number): MemoryLayer[] {
  const { numLayers, numKvHeads, headDim } = model.config;
  const make = (seed: number) => {
    const data = new Float32Array(K * numKvHeads * headDim);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed * 7.1 + i * 0.37) * 0.5;
    return new Tensor("float32", [K, numKvHeads, headDim], data);
  };
  return Array.from({ length: numLayers }, (_, l) => ({ keys: make(2 * l), values: make(2 * l + 1) }));
}

async function measure(label: string, model: LoadedModel, context: number[], question: number[], ratio: number): Promise<ServingRow> {
  const reader = new LanguageModel(model, {});
  await reader.prepare();
  const L = context.length + 1;
  const K = Math.ceil(context.length / ratio);
  const sink = (await reader.forward({ ids: [model.config.bosTokenId], positions: [0] })).cache;
  const memory = memoryCache(sink, syntheticMemory(model, K), Array.from({ length: K }, (_, i) => L + i));

  // Time to first token with the full context: the context and the question are both prefilled.
  let fullCache: KvCache = sink;
  const fullMs = await medianMs(
    async () => {
      fullCache = (await reader.forward({ ids: [model.config.bosTokenId, ...context, ...question] })).cache;
    },
    { warmup: 1, repeats: 3 },
  );
  // With the memory: only the question is prefilled after [sink; memory].
  let memoryRun: KvCache = memory;
  const memoryMs = await medianMs(
    async () => {
      memoryRun = (await reader.forward({ ids: question, cache: memory })).cache;
    },
    { warmup: 1, repeats: 3 },
  );
  await reader.dispose();
  return {
    model: label,
    contextTokens: context.length,
    memoryTokens: K,
    fullMs,
    memoryMs,
    fullBytes: cacheBytes(fullCache),
    memoryBytes: cacheBytes(memoryRun),
  };
}

export async function runServingBenchmark(): Promise<string> {
  const rows: ServingRow[] = [];
  const stories = await loadModel("stories260K");
  const storiesPath = process.env.LCC_STORIES;
  if (storiesPath === undefined) throw new Error("set LCC_STORIES to the TinyStories JSONL file");
  const longest = (await readFile(storiesPath, "utf8"))
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { text: string }).text)
    .sort((a, b) => b.length - a.length)[0] as string;
  const storyIds = stories.tokenizer.encode(longest, { addBos: false }).slice(0, 440);
  const storyQuestion = stories.tokenizer.encode("One day, she", { addBos: false });
  rows.push(await measure("stories260K, longest story", stories.model, storyIds, storyQuestion, 16));

  const smol = createRandomModel(smolLM2Shape(), 1);
  const smolContext = Array.from({ length: 2048 }, (_, i) => (i * 7919 + 3) % smol.config.vocabSize);
  const smolQuestion = Array.from({ length: 16 }, (_, i) => (i * 131 + 7) % smol.config.vocabSize);
  rows.push(await measure("SmolLM2-135M shape, random weights", smol, smolContext, smolQuestion, 16));

  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  return [
    "Time to first token = prefill of the question (with the memory) or of context + question (full context); float32 key/value bytes held after that prefill.",
    "",
    "| model | context tokens | memory tokens | TTFT full context (ms) | TTFT memory (ms) | TTFT ratio | KV bytes full | KV bytes memory | bytes ratio |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.contextTokens} | ${r.memoryTokens} | ${r.fullMs.toFixed(1)} | ${r.memoryMs.toFixed(1)} | ${(r.memoryMs / r.fullMs).toFixed(3)} | ${kib(r.fullBytes)} | ${kib(r.memoryBytes)} | ${(r.memoryBytes / r.fullBytes).toFixed(3)} |`,
    ),
  ].join("\n");
}
