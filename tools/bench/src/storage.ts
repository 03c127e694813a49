/**
 * Storage benchmark: how storing a memory's keys and values as float16, bfloat16 or int8
 * (with per-channel scales) changes what the model reads, against the float32 memory.
 */

import { readFile } from "node:fs/promises";
import { type StorageDType, decodeMemory, encodeMemory } from "@lcc/artifact";
import { builtInQueryPool, compileContext, sinkCache, toMemoryArtifact } from "@lcc/compiler";
import { baselinePrefix, memoryPrefix, scoreSequence } from "@lcc/evaluation";
import { LanguageModel, loadModel, modelHashes } from "@lcc/models";

const DTYPES: readonly StorageDType[] = ["float32", "float16", "bfloat16", "int8"];

export async function runStorageBenchmark(): Promise<string> {
  const storiesPath = process.env.LCC_STORIES;
  if (storiesPath === undefined) throw new Error("set LCC_STORIES to the TinyStories JSONL file");
  const count = Number(process.env.LCC_BENCH_STORAGE_STORIES ?? 5);
  const { model, tokenizer } = await loadModel("stories260K");
  const fingerprint = modelHashes(model, tokenizer);
  const reader = new LanguageModel(model, {});
  const sink = await sinkCache(reader);
  const pool = builtInQueryPool("story-openings").map((text) => tokenizer.encode(text, { addBos: false }));
  const stories = (await readFile(storiesPath, "utf8"))
    .trim()
    .split("\n")
    .slice(0, count)
    .map((line) => JSON.parse(line) as { text: string });

  const totals = new Map<StorageDType, { gap: number; accuracy: number; bytes: number }>(DTYPES.map((d) => [d, { gap: 0, accuracy: 0, bytes: 0 }]));
  for (const story of stories) {
    const ids = tokenizer.encode(story.text, { addBos: true });
    const half = Math.floor(ids.length / 2);
    const context = ids.slice(0, half);
    const continuation = ids.slice(half);
    const answer = context.slice(1);
    const compiled = await compileContext({ model, contextIds: answer, queryPool: pool, options: { steps: 100, queries: 64 } });
    const memory = toMemoryArtifact(compiled, { fingerprint, sourceText: story.text, producerVersion: "bench" });

    // Continuation NLL with no context and the full context bound the gap.
    const inputs = continuation.slice(0, -1);
    const targets = continuation.slice(1);
    const K = compiled.bufferTokens;
    const none = (await scoreSequence(reader, await baselinePrefix(reader, "none", context, K, 16), inputs, targets)).nll;
    const full = (await scoreSequence(reader, await baselinePrefix(reader, "full", context, K, 16), inputs, targets)).nll;
    for (const dtype of DTYPES) {
      const bytes = encodeMemory(memory, { dtype });
      const decoded = decodeMemory(bytes);
      const prefix = memoryPrefix(sink, decoded.layers, decoded.positions);
      const nll = (await scoreSequence(reader, prefix, inputs, targets)).nll;
      const accuracy = (await scoreSequence(reader, prefix, [context[0] as number, ...answer.slice(0, -1)], answer)).accuracy;
      const total = totals.get(dtype) as { gap: number; accuracy: number; bytes: number };
      total.gap += (none - nll) / (none - full) / stories.length;
      total.accuracy += accuracy / stories.length;
      total.bytes += bytes.byteLength / stories.length;
    }
  }
  await reader.dispose();

  const base = totals.get("float32") as { gap: number; accuracy: number; bytes: number };
  return [
    `${stories.length} stories, ratio 16, 100 steps, 64 queries; each memory encoded in every storage dtype, decoded, and read.`,
    "",
    "| storage dtype | mean file bytes | gap closed | change | reconstruction accuracy | change |",
    "| --- | --- | --- | --- | --- | --- |",
    ...DTYPES.map((dtype) => {
      const t = totals.get(dtype) as { gap: number; accuracy: number; bytes: number };
      return `| ${dtype} | ${t.bytes.toFixed(0)} | ${t.gap.toFixed(4)} | ${(t.gap - base.gap).toFixed(4)} | ${t.accuracy.toFixed(4)} | ${(t.accuracy - base.accuracy).toFixed(4)} |`;
    }),
  ].join("\n");
}
