/**
 * Test fixtures: stories260K, a query pool from the TinyStories slice, and memories
 * compiled for real with @lcc/compiler (few steps, to keep the tests fast).
 */

import { readFile } from "node:fs/promises";
import type { Memory, ModelFingerprint } from "@lcc/artifact";
import { compileContext, toMemoryArtifact } from "@lcc/compiler";
import type { KvCache, LoadedModel, TextTokenizer } from "@lcc/models";
import { Tensor } from "@lcc/tensor";
import { sharedPath } from "./shared.js";

/** Two short stories written for these tests, each with its own names. */
export const CAT_STORY =
  'Once upon a time, there was a little girl named Sue. Sue had a small gray cat called Pip. Every morning, Sue and Pip played with a red ball in the garden. One day, the ball rolled under a big bush. Pip ran after it and brought it back. Sue hugged Pip and said, "You are the best cat!" They played until the sun went down.';
export const DOG_STORY =
  'One day, a boy named Ben went to the park with his dog. The dog was brown and liked to run fast. Ben threw a stick and the dog ran to get it. Then it started to rain. Ben and his dog ran home and sat by the warm fire. Ben\'s mom gave him a cup of hot milk. Ben smiled and said, "This was a fun day."';

/** Reads the stories of the shared TinyStories slice, in file order. */
export async function tinyStories(): Promise<string[]> {
  const lines = (await readFile(sharedPath("data", "tinystories", "stories.jsonl"), "utf8")).trim().split("\n");
  return lines.map((line) => (JSON.parse(line) as { text: string }).text);
}

/** Returns the first 8 tokens of 64 stories that no test compiles, as a query pool. */
export function queryPool(tokenizer: TextTokenizer, stories: readonly string[]): number[][] {
  return stories.slice(100, 164).map((story) => tokenizer.encode(story, { addBos: false }).slice(0, 8));
}

export interface CompileFixture {
  readonly model: LoadedModel;
  readonly fingerprint: ModelFingerprint;
  readonly contextIds: readonly number[];
  readonly sourceText: string;
  readonly queryPool: readonly (readonly number[])[];
  readonly steps: number;
}

/** Compiles a context at ratio 16 and packs it as an artifact memory. */
export async function compileMemory(fixture: CompileFixture): Promise<Memory> {
  const compiled = await compileContext({
    model: fixture.model,
    contextIds: fixture.contextIds,
    queryPool: fixture.queryPool,
    options: { ratio: 16, steps: fixture.steps, queries: fixture.queryPool.length > 0 ? 8 : 0, seed: 0 },
    sessionOptions: { cacheDir: null },
  });
  return toMemoryArtifact(compiled, { fingerprint: fixture.fingerprint, sourceText: fixture.sourceText, producerVersion: "0.0.0-test" });
}

/**
 * Packs θ's own keys and values of `cache`, without the batch axis, as a memory. For a
 * cache computed from tokens alone (no BOS), the keys depend on position only through
 * RoPE, so the memory can be recomputed exactly at other positions.
 */
export function memoryFromCache(cache: KvCache, fingerprint: ModelFingerprint): Memory {
  const S = cache.positions.length;
  const layers = cache.keys.map((keys, l) => ({
    keys: tokensFirst(keys),
    values: tokensFirst(cache.values[l] as Tensor),
  }));
  return {
    producer: { name: "lcc-test", version: "0.0.0" },
    fingerprint,
    compression: { sourceTokens: S, bufferTokens: S, ratio: 1, segments: [{ sourceStart: 0, sourceEnd: S, bufferStart: 0, bufferEnd: S }] },
    positions: [...cache.positions],
    layers,
    provenance: { options: {}, steps: 0, finalLosses: {}, wallTimeSeconds: 0 },
    sourceSha256: "0".repeat(64),
    createdAt: "2026-01-01T00:00:00.000Z",
  };
}

/** [1, Hkv, S, Dh] -> [S, Hkv, Dh]. */
export function tokensFirst(tensor: Tensor): Tensor<"float32"> {
  const [, Hkv, S, Dh] = tensor.shape as [number, number, number, number];
  const source = tensor.data as Float32Array;
  const out = new Float32Array(S * Hkv * Dh);
  for (let h = 0; h < Hkv; h++) {
    for (let s = 0; s < S; s++) out.set(source.subarray((h * S + s) * Dh, (h * S + s + 1) * Dh), (s * Hkv + h) * Dh);
  }
  return new Tensor("float32", [S, Hkv, Dh], out);
}

/** Largest absolute difference between two arrays of one length. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}
