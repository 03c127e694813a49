/**
 * The engine on the real stories260K model, with memories compiled for real by
 * @lcc/compiler. Few optimisation steps keep the file short: about 20 s on a two-core
 * machine when measured.
 */

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Memory, MemoryModelMismatchError, encodeMemory } from "@lcc/artifact";
import { memoryCache, sinkCache } from "@lcc/compiler";
import {
  ContextLengthError,
  LanguageModel,
  type ResolvedModel,
  createRandomModel,
  generateTokens,
  loadModel,
  modelHashes,
  randomConfig,
  rebaseKeys,
} from "@lcc/models";
import { InvalidArgumentError } from "@lcc/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeCache, placeMemories } from "./compose.js";
import { Engine } from "./engine.js";
import { EngineClosedError, MemoryEvictedError, MemoryNotFoundError, MemoryTooLargeError, QueueFullError } from "./errors.js";
import type { Generation } from "./generation.js";
import { memoryByteSize, memoryId } from "./memory-id.js";
import type { GenerationChunk, GenerationSummary } from "./request.js";
import { CAT_STORY, DOG_STORY, compileMemory, maxAbsDifference, memoryFromCache, queryPool, tinyStories } from "./test/fixtures.js";
import { sharedPath } from "./test/shared.js";

interface Golden {
  "encode:Once upon a time": number[];
  greedy_after_prompt_Once_upon_a_time_generated_ids: number[];
  greedy_after_prompt_text: string;
}

const SESSION_OPTIONS = { cacheDir: null } as const;

let resolved: ResolvedModel;
let golden: Golden;
let fingerprint: ReturnType<typeof modelHashes>;
/** Eight memories of the openings of eight TinyStories stories. */
let storyMemories: Memory[];
let catMemory: Memory;
let dogMemory: Memory;
let engine: Engine;
let folder: string;

beforeAll(async () => {
  resolved = await loadModel(sharedPath("models", "stories260K"));
  golden = JSON.parse(await readFile(sharedPath("cases", "stories260K-golden.json"), "utf8")) as Golden;
  fingerprint = modelHashes(resolved.model, resolved.tokenizer);
  folder = await mkdtemp(path.join(os.tmpdir(), "lcc-serving-"));
  const { tokenizer } = resolved;
  const stories = await tinyStories();
  const pool = queryPool(tokenizer, stories);

  const compile = (text: string, tokens: number, steps: number) => {
    const contextIds = tokenizer.encode(text, { addBos: false }).slice(0, tokens);
    return compileMemory({ model: resolved.model, fingerprint, contextIds, sourceText: tokenizer.decode(contextIds), queryPool: pool, steps });
  };
  storyMemories = [];
  for (const story of stories.slice(0, 8)) storyMemories.push(await compile(story, 64, 6));
  catMemory = await compile(CAT_STORY, 1000, 40);
  dogMemory = await compile(DOG_STORY, 1000, 40);

  engine = await Engine.create(resolved, { sessionOptions: SESSION_OPTIONS, maxConcurrent: 8, maxQueued: 8 });
});

afterAll(async () => {
  await engine?.close();
  if (folder !== undefined) await rm(folder, { recursive: true, force: true });
});

/** Reads a generation to its end and returns its chunks and summary. */
async function drain(generation: Generation): Promise<{ chunks: GenerationChunk[]; summary: GenerationSummary }> {
  const chunks: GenerationChunk[] = [];
  for await (const chunk of generation) chunks.push(chunk);
  return { chunks, summary: await generation.summary };
}

async function caught(action: () => unknown): Promise<Error> {
  try {
    await action();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error, but none was thrown");
}

// ---------------------------------------------------------------------------
// Prefill layout and decoding
// ---------------------------------------------------------------------------

describe("generation", () => {
  it("matches the golden greedy ids without memories", async () => {
    const expectedIds = golden.greedy_after_prompt_Once_upon_a_time_generated_ids;
    expect(resolved.tokenizer.encode("Once upon a time", { addBos: false })).toEqual(golden["encode:Once upon a time"].slice(1));

    const { chunks, summary } = await drain(engine.generate({ prompt: "Once upon a time", maxTokens: expectedIds.length }));
    expect(summary.tokenIds).toEqual(expectedIds);
    expect(chunks.map((chunk) => chunk.tokenId)).toEqual(expectedIds);
    expect(summary.text).toBe(golden.greedy_after_prompt_text);
    expect(chunks.map((chunk) => chunk.text).join("")).toBe(summary.text);
    expect(summary.finishReason).toBe("length");
    expect(summary.promptTokens).toBe(4);
    expect(summary.memoryTokens).toBe(0);
    expect(summary.completionTokens).toBe(32);
  });

  it("reads a memory like a direct [BOS; memory; prompt] run", async () => {
    const memory = storyMemories[0] as Memory;
    const id = await engine.addMemory(memory);
    const promptIds = resolved.tokenizer.encode("One day,", { addBos: false });
    const summary = await engine.generate({ promptIds, memories: [id], maxTokens: 20 }).collect();

    // Reference: the compiler's own reader cache and the models package's generation loop.
    const model = new LanguageModel(resolved.model, SESSION_OPTIONS);
    const cache = memoryCache(await sinkCache(model), memory.layers, memory.positions);
    const expected: number[] = [];
    for await (const token of generateTokens(model, promptIds, { maxTokens: 20, cache })) expected.push(token.id);
    await model.dispose();

    expect(summary.tokenIds).toEqual(expected);
    expect(summary.memoryTokens).toBe(4);
    expect(memory.positions).toEqual([65, 66, 67, 68]);
  });

  it("stops at a stop string that spans several tokens", async () => {
    const stop = "park. One";
    const full = golden.greedy_after_prompt_text;
    const generation = engine.generate({ prompt: "Once upon a time", maxTokens: 32, stop: ["zebra", stop] });
    const { chunks, summary } = await drain(generation);

    const expectedText = full.slice(0, full.indexOf(stop));
    expect(summary.text).toBe(expectedText);
    expect(chunks.map((chunk) => chunk.text).join("")).toBe(expectedText);
    expect(summary.finishReason).toBe("stop");
    expect(summary.stopString).toBe(stop);
    // The stop string is spelled by several tokens, the last of which ends generation.
    const lastId = summary.tokenIds.at(-1) as number;
    expect(resolved.tokenizer.decode(summary.tokenIds).endsWith(stop)).toBe(true);
    expect(resolved.tokenizer.decode([lastId])).not.toContain(stop);
    expect(chunks.at(-1)?.tokenId).toBe(lastId);
  });

  it("stops at a stop token id without emitting it", async () => {
    const lily = resolved.tokenizer.tokenToId("▁Lily") as number;
    const summary = await engine.generate({ prompt: "Once upon a time", maxTokens: 32, stopTokenIds: [lily] }).collect();
    expect(summary.finishReason).toBe("stop");
    expect(summary.stopTokenId).toBe(lily);
    expect(summary.text).toBe(", there was a little girl named");
    expect(summary.tokenIds).toEqual(golden.greedy_after_prompt_Once_upon_a_time_generated_ids.slice(0, 9));
  });

  it("ends at maxTokens", async () => {
    const summary = await engine.generate({ prompt: "Once upon a time", maxTokens: 5 }).collect();
    expect(summary.finishReason).toBe("length");
    expect(summary.tokenIds).toEqual(golden.greedy_after_prompt_Once_upon_a_time_generated_ids.slice(0, 5));
    expect(summary.timings.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(summary.timings.prefillMs).toBeGreaterThan(0);

    const none = await engine.generate({ prompt: "Once upon a time", maxTokens: 0 }).collect();
    expect(none).toMatchObject({ finishReason: "length", tokenIds: [], text: "", completionTokens: 0 });
  });

  it("ends with length when the context window is full", async () => {
    const id = await engine.addMemory(catMemory);
    const summary = await engine.generate({ prompt: "Once upon a time", memories: [id], maxTokens: 1000, stopTokenIds: [] }).collect();
    const firstPromptPosition = Math.max(...catMemory.positions) + 1;
    expect(summary.finishReason).toBe("length");
    // The last token is sampled from the logits of position 511 and never run.
    expect(firstPromptPosition + 4 + summary.completionTokens - 1).toBe(resolved.model.config.maxPositions);
  });

  it("rejects a prompt that does not fit after the memories", async () => {
    const id = await engine.addMemory(catMemory);
    const promptIds = new Array<number>(400).fill(300);
    const error = await caught(() => engine.generate({ promptIds, memories: [id], maxTokens: 1 }).collect());
    expect(error).toBeInstanceOf(ContextLengthError);
    const memoryEnd = Math.max(...catMemory.positions);
    expect(error.message).toContain(
      `the memories end at position ${memoryEnd} and the prompt adds 400 tokens, up to position ${memoryEnd + 400}, but stories260K's context window is 512 positions`,
    );
  });

  it("rejects invalid requests listing every problem", () => {
    let error: unknown;
    try {
      engine.generate({ prompt: "x", promptIds: [1], maxTokens: -1, stop: [""], stopTokenIds: [9999] });
    } catch (caughtError) {
      error = caughtError;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const message = (error as Error).message;
    expect(message).toMatch(/give exactly one of prompt and promptIds/);
    expect(message).toMatch(/maxTokens must be an integer ≥ 0, got -1/);
    expect(message).toMatch(/stop must be a non-empty string/);
    expect(message).toMatch(/stopTokenIds\[0\] is 9999 but token ids must be integers in \[0, 512\)/);
    expect(() => engine.generate({ prompt: "x", temperature: -1 })).toThrow(/temperature must be a number ≥ 0, got -1/);
    expect(() => engine.generate({ prompt: "" })).toThrow(/the prompt has no tokens/);
  });

  it("rejects an unknown memory id before running", () => {
    expect(() => engine.generate({ prompt: "x", memories: ["f".repeat(64)] })).toThrow(MemoryNotFoundError);
  });
});

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

describe("concurrency", () => {
  const cases = [
    { name: "greedy", sampling: (_: number) => ({}) },
    { name: "seeded sampling", sampling: (i: number) => ({ temperature: 0.9, topK: 40, topP: 0.95, seed: 100 + i }) },
  ];

  for (const { name, sampling } of cases) {
    it(`8 concurrent requests equal 8 sequential ones (${name})`, async () => {
      const ids = await Promise.all(storyMemories.map((memory) => engine.addMemory(memory)));
      expect(new Set(ids).size).toBe(8);
      const request = (i: number) => ({ prompt: "One day, a little", memories: [ids[i] as string], maxTokens: 24, stopTokenIds: [], ...sampling(i) });

      const sequential: number[][] = [];
      for (let i = 0; i < 8; i++) sequential.push([...(await engine.generate(request(i)).collect()).tokenIds]);

      const generations = ids.map((_, i) => engine.generate(request(i)));
      expect(engine.queueStats()).toEqual({ running: 8, queued: 0 });
      const concurrent = await Promise.all(generations.map(async (generation) => (await drain(generation)).summary.tokenIds));

      expect(concurrent).toEqual(sequential);
      // The memories change the output, so a mixed-up cache would show.
      expect(new Set(sequential.map((tokens) => tokens.join(","))).size).toBeGreaterThanOrEqual(4);
      expect(engine.queueStats()).toEqual({ running: 0, queued: 0 });
      if (name === "seeded sampling") {
        // Sampling draws other tokens than greedy decoding, so a shared random stream would show.
        const greedy = await engine.generate({ ...request(0), temperature: 0 }).collect();
        expect(greedy.tokenIds).not.toEqual(sequential[0]);
      }
    });
  }
});

// ---------------------------------------------------------------------------
// Composition
// ---------------------------------------------------------------------------

describe("composition", () => {
  /**
   * Criterion: for each story, the log-probability of its name after a cloze prompt is
   * higher by at least 0.5 nats with both memories (in either order) than with no memory,
   * and than with the other story's memory alone. Greedy text is too brittle for a model
   * this small, so the test compares log-probabilities.
   */
  it("recalls a detail of each of two composed memories", async () => {
    const cat = await engine.addMemory(catMemory);
    const dog = await engine.addMemory(dogMemory);
    const clozes = [
      { prompt: "The cat's name was", continuation: " Pip", other: dog },
      { prompt: "The boy went to the park with his dog. The boy's name was", continuation: " Ben", other: cat },
    ];
    for (const { prompt, continuation, other } of clozes) {
      const score = async (memories: string[]) => (await engine.scoreContinuation({ prompt, continuation, memories })).totalLogProb;
      const none = await score([]);
      const otherOnly = await score([other]);
      for (const both of [await score([cat, dog]), await score([dog, cat])]) {
        expect(both, `${continuation}: both memories ${both.toFixed(2)}, none ${none.toFixed(2)}`).toBeGreaterThan(none + 0.5);
        expect(both, `${continuation}: both memories ${both.toFixed(2)}, other only ${otherOnly.toFixed(2)}`).toBeGreaterThan(otherOnly + 0.5);
      }
    }
  });

  it("places memories one after another, the first unchanged", () => {
    const placements = placeMemories([catMemory, dogMemory, catMemory]);
    const catFirst = catMemory.positions[0] as number;
    const catLast = catMemory.positions.at(-1) as number;
    const dogFirst = dogMemory.positions[0] as number;
    const dogCount = dogMemory.positions.length;
    expect(placements[0]).toEqual({ delta: 0, firstPosition: catFirst, lastPosition: catLast });
    expect(placements[1]).toEqual({ delta: catLast + 1 - dogFirst, firstPosition: catLast + 1, lastPosition: catLast + dogCount });
    expect(placements[2]?.firstPosition).toBe(catLast + dogCount + 1);
  });

  it("re-based keys equal a direct recomputation at the new positions", async () => {
    const model = new LanguageModel(resolved.model, SESSION_OPTIONS);
    const sink = await sinkCache(model);
    const tokens = resolved.tokenizer.encode("Ben threw a stick and the dog ran to get it.", { addBos: false });
    const at = async (start: number) =>
      memoryFromCache((await model.forward({ ids: tokens, positions: tokens.map((_, i) => start + i) })).cache, fingerprint);

    // θ's own keys of the tokens at 40.., and the same tokens run directly after the cat memory.
    const target = (catMemory.positions.at(-1) as number) + 1;
    const original = await at(40);
    const direct = await at(target);
    const composed = composeCache(sink, [catMemory, original], resolved.model.config);
    const reference = composeCache(sink, [catMemory, direct], resolved.model.config);
    expect(composed.placements[1]?.delta).toBe(target - 40);
    expect(reference.placements[1]?.delta).toBe(0);
    expect(composed.cache.positions).toEqual(reference.cache.positions);
    for (let l = 0; l < resolved.model.config.numLayers; l++) {
      expect(maxAbsDifference(composed.cache.keys[l]?.data as Float32Array, reference.cache.keys[l]?.data as Float32Array)).toBeLessThan(1e-4);
      expect(maxAbsDifference(composed.cache.values[l]?.data as Float32Array, reference.cache.values[l]?.data as Float32Array)).toBeLessThan(1e-4);
    }
    // The rotation itself moved the keys: without it they differ by far more.
    expect(maxAbsDifference(original.layers[0]?.keys.data as Float32Array, direct.layers[0]?.keys.data as Float32Array)).toBeGreaterThan(1e-2);

    // The same logits after a prompt, within 1e-4.
    const promptIds = resolved.tokenizer.encode("The boy's name was", { addBos: false });
    const logits = async (cache: typeof composed) =>
      (await model.forwardAll({ ids: promptIds, positions: promptIds.map((_, i) => cache.nextPosition + i), cache: cache.cache })).logits;
    expect(maxAbsDifference(await logits(composed), await logits(reference))).toBeLessThan(1e-4);
    await model.dispose();

    // rebaseKeys by the same delta gives the directly computed keys of the last layer.
    const last = resolved.model.config.numLayers - 1;
    const rotated = rebaseKeys(original.layers[last]?.keys.data as Float32Array, resolved.model.config, target - 40);
    expect(maxAbsDifference(rotated, direct.layers[last]?.keys.data as Float32Array)).toBeLessThan(1e-4);
  });
});

// ---------------------------------------------------------------------------
// Memories: model check, ids, cache
// ---------------------------------------------------------------------------

describe("memories", () => {
  it("rejects a memory compiled for another model, naming both", async () => {
    const config = randomConfig();
    const other = createRandomModel(config, 7);
    const contextIds = Array.from({ length: 48 }, (_, i) => 3 + ((i * 37) % 90));
    const otherMemory = await compileMemory({
      model: other,
      fingerprint: { ...modelHashes(other, resolved.tokenizer), name: config.name },
      contextIds,
      sourceText: "random tokens",
      queryPool: [],
      steps: 2,
    });
    const file = path.join(folder, "other.lccm");
    const bytes = encodeMemory(otherMemory, { dtype: "float16" });
    await writeFile(file, bytes);

    for (const source of [otherMemory, bytes, file]) {
      const error = await caught(() => engine.addMemory(source));
      expect(error).toBeInstanceOf(MemoryModelMismatchError);
      expect(error.name).toBe("MemoryModelMismatchError");
      expect(error.message).toMatch(/compiled for "random-tiny-llama" \(llama, weights sha256 [0-9a-f]{12}…\) but is used with "stories260K"/);
      expect(error.message).toMatch(/numLayers is 2 in the memory but 5 in the model/);
    }

    // A memory of the right shape whose fingerprint names other weights.
    const forged = { ...catMemory, fingerprint: { ...catMemory.fingerprint, name: "stories260K-finetuned", weightsSha256: "a".repeat(64) } };
    const error = await caught(() => engine.addMemory(forged));
    expect(error).toBeInstanceOf(MemoryModelMismatchError);
    expect(error.message).toMatch(/compiled for "stories260K-finetuned" .* but is used with "stories260K"/);
    expect(error.message).toMatch(/weightsSha256 is a{64} in the memory but [0-9a-f]{64} in the model/);
  });

  it("gives one id to a memory as object, bytes and file", async () => {
    const bytes = encodeMemory(catMemory, { dtype: "float32" });
    const file = path.join(folder, "cat.lccm");
    await writeFile(file, bytes);
    const ids = [await engine.addMemory(catMemory), await engine.addMemory(bytes), await engine.addMemory(file)];
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBe(memoryId(catMemory));
    expect(ids[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(engine.memories().find((info) => info.id === ids[0])?.path).toBe(file);

    // float16 storage changes the decoded values and so the id.
    expect(await engine.addMemory(encodeMemory(catMemory, { dtype: "float16" }))).not.toBe(ids[0]);
  });

  it("evicts the least recently used memory by bytes and reloads from files", async () => {
    const [a, b, c] = storyMemories as [Memory, Memory, Memory];
    const size = memoryByteSize(a);
    expect(memoryByteSize(b)).toBe(size);
    expect(size).toBe(5 * 2 * 4 * 4 * 8 * 4 + 4 * 8); // layers · (keys, values) · K · Hkv · Dh · 4 bytes + 8 bytes a position

    const small = await Engine.create(resolved, { sessionOptions: SESSION_OPTIONS, maxMemoryBytes: 2 * size + 10 });
    const fileA = path.join(folder, "a.lccm");
    await writeFile(fileA, encodeMemory(a, { dtype: "float32" }));
    const idA = await small.addMemory(fileA);
    const idB = await small.addMemory(b);
    expect(small.memoryCacheStats()).toEqual({ entries: 2, bytes: 2 * size, maxBytes: 2 * size + 10, evictions: 0 });

    // C evicts A, the least recently used.
    const idC = await small.addMemory(c);
    expect(small.memoryCacheStats()).toMatchObject({ entries: 2, bytes: 2 * size, evictions: 1 });
    const cached = () => Object.fromEntries(small.memories().map((info) => [info.id, info.cached]));
    expect(cached()).toEqual({ [idA]: false, [idB]: true, [idC]: true });

    // A comes back from its file and evicts B; B has no file.
    expect(memoryId(await small.getMemory(idA))).toBe(idA);
    expect(cached()).toEqual({ [idA]: true, [idB]: false, [idC]: true });
    const evicted = await caught(() => small.getMemory(idB));
    expect(evicted).toBeInstanceOf(MemoryEvictedError);
    expect(evicted.message).toMatch(/was evicted from the memory cache and cannot be reloaded because it was added without a file path/);
    const failed = await caught(() => small.generate({ prompt: "One day", memories: [idB], maxTokens: 1 }).collect());
    expect(failed).toBeInstanceOf(MemoryEvictedError);

    // A request on an evicted file memory reloads it: touch C, so that adding B evicts A.
    await small.getMemory(idC);
    await small.addMemory(b);
    expect(cached()[idA]).toBe(false);
    const summary = await small.generate({ prompt: "One day", memories: [idA], maxTokens: 3 }).collect();
    expect(summary.memoryTokens).toBe(4);
    expect(cached()[idA]).toBe(true);

    // Re-adding B returns its id, and a removed memory is not found.
    expect(await small.addMemory(b)).toBe(idB);
    expect(small.removeMemory(idB)).toBe(true);
    await expect(small.getMemory(idB)).rejects.toThrow(MemoryNotFoundError);

    // A memory larger than the whole cache is rejected.
    const tiny = await Engine.create(resolved, { sessionOptions: SESSION_OPTIONS, maxMemoryBytes: size - 1 });
    const tooLarge = await caught(() => tiny.addMemory(a));
    expect(tooLarge).toBeInstanceOf(MemoryTooLargeError);
    expect(tooLarge.message).toBe(`the memory needs ${size} bytes but the memory cache has a budget of ${size - 1} bytes; raise maxMemoryBytes to at least ${size}`);
    await Promise.all([small.close(), tiny.close()]);
  });
});

// ---------------------------------------------------------------------------
// Cancellation, queue and closing
// ---------------------------------------------------------------------------

describe("cancellation and queue", () => {
  it("cancels through an AbortSignal", async () => {
    const controller = new AbortController();
    const generation = engine.generate({ prompt: "Once upon a time", maxTokens: 32, signal: controller.signal });
    const chunks: GenerationChunk[] = [];
    for await (const chunk of generation) {
      chunks.push(chunk);
      if (chunks.length === 3) controller.abort();
    }
    const summary = await generation.summary;
    expect(summary.finishReason).toBe("cancelled");
    expect(summary.completionTokens).toBeGreaterThanOrEqual(3);
    expect(summary.completionTokens).toBeLessThan(32);
    expect(summary.tokenIds).toEqual(golden.greedy_after_prompt_Once_upon_a_time_generated_ids.slice(0, summary.completionTokens));
  });

  it("cancels when the reader leaves the loop", async () => {
    const generation = engine.generate({ prompt: "Once upon a time", maxTokens: 32 });
    for await (const chunk of generation) {
      expect(chunk.tokenId).toBe(golden.greedy_after_prompt_Once_upon_a_time_generated_ids[0]);
      break;
    }
    const summary = await generation.summary;
    expect(summary.finishReason).toBe("cancelled");
    expect(summary.completionTokens).toBeLessThan(32);
  });

  it("queues up to maxQueued, then throws QueueFullError", async () => {
    const small = await Engine.create(resolved, { sessionOptions: SESSION_OPTIONS, maxConcurrent: 1, maxQueued: 1 });
    const running = small.generate({ prompt: "Once upon a time", maxTokens: 8 });
    const controller = new AbortController();
    const waiting = small.generate({ prompt: "Once upon a time", maxTokens: 8, signal: controller.signal });
    expect(small.queueStats()).toEqual({ running: 1, queued: 1 });

    let error: unknown;
    try {
      small.generate({ prompt: "Once upon a time", maxTokens: 8 });
    } catch (caughtError) {
      error = caughtError;
    }
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).details).toEqual({ running: 1, queued: 1, maxConcurrent: 1, maxQueued: 1 });

    // A request cancelled while waiting ends without running.
    controller.abort();
    const waited = await waiting.summary;
    expect(waited).toMatchObject({ finishReason: "cancelled", completionTokens: 0, promptTokens: 4, memoryTokens: 0 });
    expect((await running.collect()).completionTokens).toBe(8);
    expect(small.queueStats()).toEqual({ running: 0, queued: 0 });

    // Room again.
    expect((await small.generate({ prompt: "Once upon a time", maxTokens: 2 }).collect()).finishReason).toBe("length");

    // Closing cancels what runs and rejects new requests.
    const cut = small.generate({ prompt: "Once upon a time", maxTokens: 200 });
    await small.close();
    expect((await cut.summary).finishReason).toBe("cancelled");
    expect(() => small.generate({ prompt: "x" })).toThrow(EngineClosedError);
  });
});
