/**
 * Writes the initial state of a stories260K compilation (context, queries, LoRA and
 * buffer initialisation) and lcc's losses for its first steps, so that an independent
 * implementation can replay the same run (tools/goldens/reference_losses.py).
 *
 * Usage: node dist/export-initial-state.js STORIES.jsonl STORY_INDEX OUT.json
 * Models are read from $LCC_MODELS.
 */

import { readFile, writeFile } from "node:fs/promises";
import { type CompileOptions, type InitialState, compileContext } from "@lcc/compiler";
import { loadModel } from "@lcc/models";

/** The run the goldens pin: small enough to replay in seconds. */
export const GOLDEN_OPTIONS: Partial<CompileOptions> = Object.freeze({
  ratio: 16,
  steps: 5,
  learningRate: 1e-2,
  queries: 4,
  answerTokens: 25,
  answerTemperature: 0,
  queryTokens: 8,
  seed: 0,
  threads: 1,
});

const [storiesPath, indexText, outPath] = process.argv.slice(2);
if (storiesPath === undefined || indexText === undefined || outPath === undefined) {
  process.stderr.write("usage: node dist/export-initial-state.js STORIES.jsonl STORY_INDEX OUT.json\n");
  process.exit(2);
}
const stories = (await readFile(storiesPath, "utf8"))
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as { id: string; text: string });
const story = stories[Number(indexText)];
if (story === undefined) throw new Error(`no story at index ${indexText}`);
const { model, tokenizer } = await loadModel("stories260K");

// Context: the first half of the story; query pool: 8-token openings of 40 other stories.
const ids = tokenizer.encode(story.text, { addBos: true });
const context = ids.slice(1, Math.floor(ids.length / 2));
const pool = stories.filter((s) => s.id !== story.id).slice(0, 40).map((s) => tokenizer.encode(s.text, { addBos: false }));

let initial: unknown;
const compiled = await compileContext({
  model,
  contextIds: context,
  queryPool: pool,
  options: GOLDEN_OPTIONS,
  onInitialState: (state: InitialState) => {
    initial = {
      contextIds: [...state.contextIds],
      queries: state.queries.map((q) => [...q]),
      bufferEmbeddings: Array.from(state.bufferEmbeddings.data),
      adapters: state.adapters.map((a) => ({ layer: a.layer, target: a.target, a: Array.from(a.a.data), aShape: a.a.shape, b: Array.from(a.b.data), bShape: a.b.shape })),
    };
  },
});
const losses = (compiled.history[0] ?? []).map((record) => record.losses);
await writeFile(outPath, `${JSON.stringify({ story: story.id, options: GOLDEN_OPTIONS, initial, lccLosses: losses }, null, 1)}\n`);
process.stderr.write(`wrote ${outPath}: ${JSON.stringify(losses)}\n`);
