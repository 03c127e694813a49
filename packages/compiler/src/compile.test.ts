import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type ResolvedModel, createRandomModel, loadHfFolder, loadModel, randomConfig, saveHfFolder } from "@lcc/models";
import { InvalidArgumentError } from "@lcc/tensor";
import { beforeAll, describe, expect, it } from "vitest";
import { compileContext } from "./compile-context.js";
import { CompileAbortedError, CompileDivergedError, CompileInputError } from "./errors.js";
import golden from "./fixtures/stories260k-first5-losses.json" with { type: "json" };
import type { CompileProgress } from "./progress.js";
import { sharedPath } from "./test/shared.js";

interface Story {
  id: string;
  text: string;
}

let stories260K: ResolvedModel;
let stories: Story[];

/** Builds the context and query pool of the golden run, as tools/bench/src/export-initial-state.ts does. */
function goldenInputs(index: number): { context: number[]; pool: number[][] } {
  const story = stories[index] as Story;
  const ids = stories260K.tokenizer.encode(story.text, { addBos: true });
  const context = ids.slice(1, Math.floor(ids.length / 2));
  const pool = stories
    .filter((s) => s.id !== story.id)
    .slice(0, 40)
    .map((s) => stories260K.tokenizer.encode(s.text, { addBos: false }));
  return { context, pool };
}

beforeAll(async () => {
  stories260K = await loadModel(sharedPath("models", "stories260K"));
  stories = (await readFile(sharedPath("data", "tinystories", "stories.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Story);
});

describe("compileContext on stories260K", () => {
  it("matches the reference losses of the first 5 steps", async () => {
    expect(stories[golden.storyIndex]?.id).toBe(golden.story);
    const { context, pool } = goldenInputs(golden.storyIndex);
    const compiled = await compileContext({ model: stories260K.model, contextIds: context, queryPool: pool, options: golden.options });
    const losses = compiled.history[0]?.map((record) => record.losses) ?? [];
    expect(losses).toHaveLength(5);
    golden.referenceLosses.forEach((expected, step) => {
      expect(Math.abs((losses[step]?.reconstruction as number) - expected.reconstruction)).toBeLessThan(1e-4);
      expect(Math.abs((losses[step]?.regularisation as number) - expected.regularisation)).toBeLessThan(1e-4);
    });
  });

  it("emits a memory of ceil(L / ratio) tokens after the context", async () => {
    const { context, pool } = goldenInputs(3);
    const events: CompileProgress[] = [];
    const compiled = await compileContext({
      model: stories260K.model,
      contextIds: context,
      queryPool: pool,
      options: { steps: 3, queries: 2, ratio: 8 },
      onProgress: (event) => events.push(event),
    });
    const K = Math.ceil(context.length / 8);
    expect(compiled.bufferTokens).toBe(K);
    expect(compiled.positions).toEqual(Array.from({ length: K }, (_, i) => context.length + 1 + i));
    expect(compiled.layers).toHaveLength(5);
    expect(compiled.layers[0]?.keys.shape).toEqual([K, 4, 8]);
    expect(events.filter((e) => e.type === "teacher")).toHaveLength(2);
    const steps = events.filter((e) => e.type === "step");
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3]);
    expect(steps[0]).toMatchObject({ steps: 3, segment: 0, segments: 1 });
  });

  it("splits a context longer than the segment size", async () => {
    const { pool } = goldenInputs(0);
    const context = stories260K.tokenizer.encode(`${stories[0]?.text} ${stories[1]?.text}`, { addBos: false });
    const compiled = await compileContext({
      model: stories260K.model,
      contextIds: context,
      queryPool: pool,
      options: { steps: 1, queries: 1, segmentTokens: 129 },
    });
    const segments = Math.ceil(context.length / 128);
    expect(compiled.segments).toHaveLength(segments);
    expect(compiled.segments.map((s) => s.start)).toEqual(Array.from({ length: segments }, (_, i) => i * 128));
    expect(compiled.segments.at(-1)?.end).toBe(context.length);
    expect(compiled.bufferTokens).toBe(compiled.segments.reduce((n, s) => n + s.bufferTokens, 0));
    // Positions are consecutive across segments, starting after the first segment's context.
    expect(compiled.positions).toEqual(Array.from({ length: compiled.bufferTokens }, (_, i) => 129 + i));
  });

  it("runs every ablation from options", async () => {
    const { context, pool } = goldenInputs(5);
    const run = (options: object) =>
      compileContext({ model: stories260K.model, contextIds: context, queryPool: pool, options: { steps: 2, queries: 2, ...options } });
    const base = await run({});
    const noQueries = await run({ queries: 0 });
    const loraAtRead = await run({ loraAtReadTime: true });
    const frozen = await run({ trainBuffer: false });
    const goldCe = await run({ reconstructionLoss: "ce" });
    expect(Object.keys(noQueries.history[0]?.[0]?.losses ?? {})).toEqual(["reconstruction"]);
    expect(Object.keys(base.history[0]?.[0]?.losses ?? {})).toEqual(["reconstruction", "regularisation"]);
    // Gold cross-entropy of the context is far above the KL to the teacher at step 1.
    expect(goldCe.history[0]?.[0]?.losses.reconstruction).toBeGreaterThan((base.history[0]?.[0]?.losses.reconstruction as number) + 0.5);
    // The ablations change the optimisation, so the second step's losses differ.
    const second = (c: typeof base) => c.history[0]?.[1]?.loss;
    expect(new Set([second(base), second(loraAtRead), second(frozen)]).size).toBe(3);
  });
});

describe("compileContext on 16-bit weights", () => {
  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`compiles a model stored in ${dtype}`, async () => {
      const folder = await mkdtemp(path.join(os.tmpdir(), `lcc-compile-${dtype}-`));
      await saveHfFolder(folder, createRandomModel(randomConfig({ name: "tiny" }), 3), { dtype });
      const model = await loadHfFolder(folder);
      expect(model.weights.get("model.embed_tokens.weight")?.dtype).toBe(dtype);
      const pool = Array.from({ length: 4 }, (_, q) => Array.from({ length: 8 }, (_, i) => (q * 13 + i * 7 + 3) % 96));
      const context = Array.from({ length: 40 }, (_, i) => (i * 11 + 5) % 96);
      const compiled = await compileContext({ model, contextIds: context, queryPool: pool, options: { steps: 2, queries: 2, ratio: 8 } });
      expect(compiled.bufferTokens).toBe(5);
      expect(Number.isFinite(compiled.history[0]?.[1]?.loss)).toBe(true);
    });
  }
});

describe("compileContext input checks", () => {
  const pool = [[403, 407, 261, 378, 432, 383, 286, 261]];

  it("rejects an empty context", async () => {
    await expect(compileContext({ model: stories260K.model, contextIds: [], queryPool: pool })).rejects.toThrow(CompileInputError);
    await expect(compileContext({ model: stories260K.model, contextIds: [], queryPool: pool })).rejects.toThrow("the context is empty");
  });

  it("rejects a context shorter than the ratio", async () => {
    const promise = compileContext({ model: stories260K.model, contextIds: [403, 407, 261], queryPool: pool, options: { ratio: 16 } });
    await expect(promise).rejects.toThrow("the context has 3 tokens, fewer than the compression ratio 16; use a longer text or a lower --ratio");
  });

  it("rejects invalid ratios and lists every problem", async () => {
    const context = Array.from({ length: 40 }, () => 403);
    for (const ratio of [0.5, Number.NaN, -3]) {
      await expect(compileContext({ model: stories260K.model, contextIds: context, queryPool: pool, options: { ratio } })).rejects.toThrow(
        InvalidArgumentError,
      );
    }
    await expect(
      compileContext({ model: stories260K.model, contextIds: context, queryPool: pool, options: { ratio: 0, steps: -1 } }),
    ).rejects.toThrow(/ratio must be a number ≥ 1, got 0\n {2}- steps must be an integer ≥ 0, got -1/);
  });

  it("rejects a query pool smaller than the query count", async () => {
    const context = Array.from({ length: 40 }, () => 403);
    await expect(compileContext({ model: stories260K.model, contextIds: context, queryPool: pool, options: { queries: 3 } })).rejects.toThrow(
      "the query pool has 1 entries but 3 queries were requested",
    );
  });

  it("stops with a clear error when the loss is not finite", async () => {
    const { context, pool: stories } = goldenInputs(2);
    const promise = compileContext({
      model: stories260K.model,
      contextIds: context,
      queryPool: stories,
      options: { steps: 40, queries: 1, learningRate: 1e30, clipNorm: 0 },
    });
    await expect(promise).rejects.toThrow(CompileDivergedError);
  });

  it("stops when cancelled", async () => {
    const { context, pool: stories } = goldenInputs(2);
    const controller = new AbortController();
    const promise = compileContext({
      model: stories260K.model,
      contextIds: context,
      queryPool: stories,
      options: { steps: 50, queries: 1 },
      signal: controller.signal,
      onProgress: (event) => {
        if (event.type === "step" && event.step === 2) controller.abort();
      },
    });
    await expect(promise).rejects.toThrow(CompileAbortedError);
    await expect(promise).rejects.toThrow("compilation was cancelled at step 2 of 50");
  });

  it("stops early when the held-out KL stops improving", async () => {
    const { context, pool: stories } = goldenInputs(4);
    const events: CompileProgress[] = [];
    const compiled = await compileContext({
      model: stories260K.model,
      contextIds: context,
      queryPool: stories,
      options: { steps: 200, queries: 2, heldOutQueries: 2, evaluateEvery: 1, earlyStopPatience: 1, learningRate: 0.5 },
      onProgress: (event) => events.push(event),
    });
    const stopped = events.find((e) => e.type === "stopped");
    expect(stopped).toMatchObject({ type: "stopped", reason: "early stopping" });
    expect(compiled.segments[0]?.steps).toBeLessThan(200);
  });
});
