/**
 * Recipe sweep: gap closed of several compile recipes on the same stories, to choose
 * defaults. Usage: node dist/sweep.js STORIES.jsonl COUNT RATIO
 */

import { readFile } from "node:fs/promises";
import { type CompileOptions, builtInQueryPool } from "@lcc/compiler";
import { evaluateStory, summarise, type StoryFidelity } from "@lcc/evaluation";
import { LanguageModel, loadModel } from "@lcc/models";

const RECIPES: Record<string, Partial<CompileOptions>> = {
  "default (100 steps, 64 q, 24 ans, greedy)": {},
  "sampled answers, T=1": { answerTemperature: 1 },
  "sampled answers, T=1, 48 tokens": { answerTemperature: 1, answerTokens: 48 },
  "sampled answers, T=1, 100 queries": { answerTemperature: 1, queries: 100 },
};

const [path, countText, ratioText] = process.argv.slice(2);
const { model, tokenizer } = await loadModel("stories260K");
const reader = new LanguageModel(model, {});
const pool = builtInQueryPool("story-openings").map((t) => tokenizer.encode(t, { addBos: false }));
const stories = (await readFile(path as string, "utf8")).trim().split("\n").slice(0, Number(countText)).map((l) => JSON.parse(l) as { id: string; text: string });
const results: StoryFidelity[] = [];
for (const story of stories) {
  results.push(
    await evaluateStory(model, reader, {
      id: story.id,
      ids: tokenizer.encode(story.text, { addBos: true }),
      queryPool: pool,
      variants: RECIPES,
      ratio: Number(ratioText),
      baselines: ["none", "full"],
    }),
  );
  process.stderr.write(`${results.length}/${stories.length}\n`);
}
const summary = summarise(results);
for (const label of Object.keys(RECIPES)) {
  const seconds = results.reduce((s, r) => s + (r.compileSeconds[label] ?? 0), 0) / results.length;
  process.stdout.write(`${label}: gap ${summary.mean[label]?.gapClosed.toFixed(3)}  compile ${seconds.toFixed(1)} s\n`);
}
