import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { InvalidArgumentError } from "@lcc/tensor";
import { describe, expect, it } from "vitest";
import { ContextLengthError, TokenIdError } from "../errors.js";
import { loadHfFolder, saveHfFolder } from "../hf-folder.js";
import { createRandomModel, randomConfig } from "../random-model.js";
import { LanguageModel } from "./language-model.js";

// A tiny Qwen2-style model: grouped-query attention (4 query heads share 2 key/value heads)
// and biases on the q, k and v projections.
const config = randomConfig({ architecture: "qwen2", attentionBias: true, numHeads: 4, numKvHeads: 2, name: "tiny-qwen2" });
const ids = [5, 17, 3, 42, 8, 77, 1, 30, 64, 12, 9, 2];

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** Logits of each position: by full recomputation, and by prefill of 3 tokens followed by decode steps. */
async function compareCachedAndFull(model: LanguageModel): Promise<number> {
  const V = model.config.vocabSize;
  const full = await model.forwardAll({ ids });
  let step = await model.forward({ ids: ids.slice(0, 3) });
  let worst = maxAbsDifference(step.logits, full.logits.subarray(2 * V, 3 * V));
  for (let t = 3; t < ids.length; t++) {
    step = await model.forward({ ids: [ids[t] as number], cache: step.cache });
    worst = Math.max(worst, maxAbsDifference(step.logits, full.logits.subarray(t * V, (t + 1) * V)));
  }
  expect(step.cache.positions).toEqual(ids.map((_, i) => i));
  expect(step.cache.keys[0]?.shape).toEqual([1, 2, ids.length, config.headDim]);
  return worst;
}

describe("key/value cache", () => {
  for (const dtype of ["float32", "float16", "bfloat16"] as const) {
    it(`decode equals full recomputation after a ${dtype} safetensors round trip`, async () => {
      const folder = await mkdtemp(path.join(os.tmpdir(), `lcc-tiny-${dtype}-`));
      await saveHfFolder(folder, createRandomModel(config, 7), { dtype });
      const loaded = await loadHfFolder(folder);
      expect(loaded.weights.get("model.layers.0.self_attn.q_proj.bias")?.dtype).toBe(dtype);
      const model = new LanguageModel(loaded, { cacheDir: null, threads: 1 });
      expect(await compareCachedAndFull(model)).toBeLessThan(1e-5);
      await model.dispose();
    });
  }

  it("places a prefix at arbitrary positions", async () => {
    // Keys carry their RoPE positions, so shifting every position by the same amount
    // leaves attention scores, and hence the logits, unchanged.
    const model = new LanguageModel(createRandomModel(config, 3), { cacheDir: null, threads: 1 });
    const base = await model.forward({ ids: ids.slice(0, 4) });
    const next = await model.forward({ ids: [ids[4] as number], cache: base.cache });
    const shiftedBase = await model.forward({ ids: ids.slice(0, 4), positions: [40, 41, 42, 43] });
    const shiftedNext = await model.forward({ ids: [ids[4] as number], cache: shiftedBase.cache });
    expect(shiftedNext.cache.positions).toEqual([40, 41, 42, 43, 44]);
    expect(maxAbsDifference(next.logits, shiftedNext.logits)).toBeLessThan(1e-4);
    await model.dispose();
  });
});

describe("forward input checks", () => {
  const model = new LanguageModel(createRandomModel(config, 1), { cacheDir: null, threads: 1 });

  it("rejects token ids outside the vocabulary", async () => {
    await expect(model.forward({ ids: [1, config.vocabSize] })).rejects.toThrow(TokenIdError);
    await expect(model.forward({ ids: [1, config.vocabSize] })).rejects.toThrow(
      `token id ${config.vocabSize} at index 1 is outside the vocabulary [0, ${config.vocabSize}) of tiny-qwen2`,
    );
    await expect(model.forward({ ids: [-1] })).rejects.toThrow(TokenIdError);
    await expect(model.forward({ ids: [1.5] })).rejects.toThrow(TokenIdError);
  });

  it("rejects a sequence longer than the context window", async () => {
    const tooLong = Array.from({ length: config.maxPositions + 1 }, () => 3);
    await expect(model.forward({ ids: tooLong })).rejects.toThrow(ContextLengthError);
    await expect(model.forward({ ids: tooLong })).rejects.toThrow(
      `the sequence needs ${config.maxPositions + 1} tokens (last position ${config.maxPositions}) but tiny-qwen2's context window is ${config.maxPositions} tokens`,
    );
    const full = await model.forward({ ids: Array.from({ length: config.maxPositions }, () => 3) });
    await expect(model.forward({ ids: [3], cache: full.cache })).rejects.toThrow(ContextLengthError);
  });

  it("rejects empty input and mismatched positions", async () => {
    await expect(model.forward({ ids: [] })).rejects.toThrow(InvalidArgumentError);
    await expect(model.forward({ ids: [1, 2], positions: [0] })).rejects.toThrow("got 2 token ids but 1 positions");
  });
});
