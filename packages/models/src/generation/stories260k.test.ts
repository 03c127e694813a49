import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertToHfFolder } from "../convert.js";
import { modelHashes } from "../fingerprint.js";
import { type ResolvedModel, loadModel } from "../load.js";
import { sharedPath } from "../test/shared.js";
import { generateTokens } from "./generate.js";
import { LanguageModel } from "./language-model.js";

interface Golden {
  "pos0_BOS_logits_top5": [number, number, string][];
  greedy_from_BOS_first32: number[];
  "encode:Once upon a time": number[];
  greedy_after_prompt_Once_upon_a_time_generated_ids: number[];
}

/** Greedy text of 200 tokens from the beginning-of-sequence token. */
async function greedyText(resolved: ResolvedModel): Promise<string> {
  const model = new LanguageModel(resolved.model, { cacheDir: null, threads: 1 });
  const decoder = resolved.tokenizer.createStreamDecoder();
  let text = "";
  for await (const token of generateTokens(model, [resolved.model.config.bosTokenId], { maxTokens: 200, stopTokenIds: [] })) {
    text += decoder.push(token.id);
  }
  await model.dispose();
  return text + decoder.flush();
}

describe("stories260K forward pass", () => {
  let checkpoint: ResolvedModel;
  let converted: ResolvedModel;
  let golden: Golden;
  let expectedText: string;

  beforeAll(async () => {
    golden = JSON.parse(await readFile(sharedPath("cases", "stories260K-golden.json"), "utf8")) as Golden;
    expectedText = await readFile(sharedPath("cases", "stories260K-greedy200.txt"), "utf8");
    checkpoint = await loadModel(sharedPath("models", "stories260K"));
    const folder = await mkdtemp(path.join(os.tmpdir(), "lcc-stories-hf-"));
    await convertToHfFolder(checkpoint, folder);
    converted = await loadModel(folder);
  });

  it("reads the checkpoint and its converted folder", () => {
    expect(checkpoint.format).toBe("llama2c");
    expect(converted.format).toBe("huggingface");
    expect(converted.model.config.numKvHeads).toBe(4);
  });

  it("gives the checkpoint and its converted folder one fingerprint", () => {
    const fromCheckpoint = modelHashes(checkpoint.model, checkpoint.tokenizer);
    const fromFolder = modelHashes(converted.model, converted.tokenizer);
    expect(fromFolder.weightsSha256).toBe(fromCheckpoint.weightsSha256);
    expect(fromFolder.tokenizerSha256).toBe(fromCheckpoint.tokenizerSha256);
    expect(fromFolder.configSha256).toBe(fromCheckpoint.configSha256);
    expect(fromCheckpoint.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("matches the golden top-5 logits at position 0", async () => {
    const model = new LanguageModel(checkpoint.model, { cacheDir: null, threads: 1 });
    const { logits } = await model.forwardAll({ ids: [1] });
    await model.dispose();
    const ranked = Array.from(logits.keys()).sort((a, b) => (logits[b] as number) - (logits[a] as number));
    const expected = golden.pos0_BOS_logits_top5;
    expect(ranked.slice(0, 5)).toEqual(expected.map(([id]) => id));
    for (const [id, value] of expected) expect(Math.abs((logits[id] as number) - value)).toBeLessThan(1e-4);
  });

  it("matches the golden greedy ids after a prompt", async () => {
    const prompt = checkpoint.tokenizer.encode("Once upon a time", { addBos: true });
    expect(prompt).toEqual(golden["encode:Once upon a time"]);
    const model = new LanguageModel(checkpoint.model, { cacheDir: null, threads: 1 });
    const ids: number[] = [];
    for await (const token of generateTokens(model, prompt, { maxTokens: 32 })) ids.push(token.id);
    await model.dispose();
    expect(ids).toEqual(golden.greedy_after_prompt_Once_upon_a_time_generated_ids);
  });

  it("greedy 200 steps from the checkpoint equal the reference text", async () => {
    expect(await greedyText(checkpoint)).toBe(expectedText);
  });

  it("greedy 200 steps from the converted folder equal the reference text", async () => {
    expect(await greedyText(converted)).toBe(expectedText);
  });

  afterAll(() => undefined);
});
