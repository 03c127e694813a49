/**
 * Fidelity benchmark: compile the first half of each of N TinyStories stories with
 * stories260K, read the second half, and compare the memory with every equal-budget
 * baseline. Two memory variants show the trade-off between reconstruction losses.
 *
 * Environment: LCC_STORIES (the stories JSONL), LCC_MODELS (models folder),
 * LCC_BENCH_STORIES (default 20), LCC_BENCH_RATIO (default 16).
 */

import { readFile } from "node:fs/promises";
import { builtInQueryPool } from "@lcc/compiler";
import { type StoryFidelity, evaluateStory, summarise } from "@lcc/evaluation";
import { LanguageModel, loadModel } from "@lcc/models";

const VARIANTS = {
  "memory (KL reconstruction)": { reconstructionLoss: "kl", steps: 100, queries: 64, answerTemperature: 0 },
  "memory (KL, sampled answers)": { reconstructionLoss: "kl", steps: 100, queries: 64, answerTemperature: 1 },
  "memory (gold CE reconstruction)": { reconstructionLoss: "ce", steps: 100, queries: 64, answerTemperature: 0 },
} as const;

export async function runFidelityBenchmark(): Promise<string> {
  const storiesPath = process.env.LCC_STORIES;
  if (storiesPath === undefined) throw new Error("set LCC_STORIES to the TinyStories JSONL file (for example ../shared/data/tinystories/stories.jsonl)");
  const count = Number(process.env.LCC_BENCH_STORIES ?? 20);
  const ratio = Number(process.env.LCC_BENCH_RATIO ?? 16);
  const { model, tokenizer } = await loadModel("stories260K");
  const reader = new LanguageModel(model, {});
  const pool = builtInQueryPool("story-openings").map((text) => tokenizer.encode(text, { addBos: false }));
  const stories = (await readFile(storiesPath, "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { id: string; text: string })
    .slice(0, count);

  const results: StoryFidelity[] = [];
  for (const story of stories) {
    const ids = tokenizer.encode(story.text, { addBos: true });
    results.push(await evaluateStory(model, reader, { id: story.id, ids, queryPool: pool, variants: VARIANTS, ratio }));
    process.stderr.write(`fidelity: ${results.length}/${stories.length} ${story.id} ${JSON.stringify(Object.fromEntries(Object.entries(results.at(-1)?.scores ?? {}).map(([k, v]) => [k, Number(v.gapClosed.toFixed(3))])))}\n`);
  }
  await reader.dispose();

  const summary = summarise(results);
  const compileSeconds = results.reduce((sum, r) => sum + (r.compileSeconds[Object.keys(VARIANTS)[0] as string] ?? 0), 0) / results.length;
  const order = [...Object.keys(VARIANTS), "last-k", "every-r", "surprisal", "mean-pooled", "none", "full"];
  const lines = [
    `${summary.stories} stories, ratio ${ratio}, first half compiled (mean ${(results.reduce((s, r) => s + r.contextTokens, 0) / results.length).toFixed(0)} tokens -> mean ${(results.reduce((s, r) => s + r.bufferTokens, 0) / results.length).toFixed(1)} memory tokens), second half read. Memories: 100 steps, 64 story-opening queries, rank 8, AdamW 1e-2; mean compile time ${compileSeconds.toFixed(1)} s per story.`,
    "",
    "| prefix | gap closed | continuation perplexity | reconstruction accuracy |",
    "| --- | --- | --- | --- |",
    ...order.map((label) => {
      const score = summary.mean[label];
      if (score === undefined) return `| ${label} | – | – | – |`;
      return `| ${label} | ${score.gapClosed.toFixed(3)} | ${score.perplexity.toFixed(3)} | ${score.reconstructionAccuracy.toFixed(3)} |`;
    }),
  ];
  return lines.join("\n");
}
