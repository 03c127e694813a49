/**
 * Prefixes a reader reads before the continuation: the memory, and the equal-budget baselines
 * that keep K key/value entries of the context in other ways.
 *
 * Legend: L context tokens (with BOS), K budget in entries, r ratio, Hkv heads, Dh head width.
 */

import { type MemoryLayer, memoryCache } from "@lcc/compiler";
import type { KvCache, LanguageModel } from "@lcc/models";
import { Tensor } from "@lcc/tensor";

/** A reader's prefix: a cache and the position the continuation starts at. */
export interface ReaderPrefix {
  readonly cache: KvCache;
  readonly nextPosition: number;
}

export type BaselineName = "full" | "none" | "last-k" | "every-r" | "surprisal" | "mean-pooled";

export const BASELINES: readonly BaselineName[] = ["full", "none", "last-k", "every-r", "surprisal", "mean-pooled"];

/** θ on a token sequence at positions 0..n-1. */
async function prefixOf(model: LanguageModel, ids: readonly number[]): Promise<ReaderPrefix> {
  const { cache } = await model.forward({ ids });
  return { cache, nextPosition: ids.length };
}

/** Per-token surprisal -log p(c_t | c_<t) under θ for t ≥ 1 (BOS has none). */
export async function surprisals(model: LanguageModel, contextIds: readonly number[]): Promise<number[]> {
  const V = model.config.vocabSize;
  const { logits } = await model.forwardAll({ ids: contextIds });
  const values: number[] = [];
  for (let t = 1; t < contextIds.length; t++) {
    const row = logits.subarray((t - 1) * V, t * V);
    let max = Number.NEGATIVE_INFINITY;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    values.push(max + Math.log(sum) - (row[contextIds[t] as number] as number));
  }
  return values;
}

/** Averages keys and values of each r-token segment of the context (BOS kept apart as the sink). */
function meanPooled(full: KvCache, contextTokens: number, K: number, ratio: number): KvCache {
  const pool = (tensor: Tensor): Tensor => {
    const [, Hkv, , Dh] = tensor.shape as [number, number, number, number];
    const S = tensor.shape[2] as number;
    const source = tensor.data as Float32Array;
    const out = new Float32Array(Hkv * (K + 1) * Dh);
    for (let h = 0; h < Hkv; h++) {
      // The sink (BOS at position 0) stays as it is.
      out.set(source.subarray(h * S * Dh, (h * S + 1) * Dh), h * (K + 1) * Dh);
      for (let k = 0; k < K; k++) {
        const start = 1 + Math.floor(k * ratio);
        const end = Math.min(contextTokens, 1 + Math.floor((k + 1) * ratio));
        const count = Math.max(1, end - start);
        for (let t = start; t < Math.max(end, start + 1); t++) {
          const target = (h * (K + 1) + k + 1) * Dh;
          for (let d = 0; d < Dh; d++) out[target + d] = (out[target + d] as number) + (source[(h * S + t) * Dh + d] as number) / count;
        }
      }
    }
    return new Tensor("float32", [1, Hkv, K + 1, Dh], out);
  };
  const positions = [0];
  for (let k = 0; k < K; k++) positions.push(Math.min(contextTokens - 1, Math.round(1 + (k + 0.5) * ratio)));
  return { keys: full.keys.map(pool), values: full.values.map(pool), positions };
}

/** Builds the prefix of `name` for a context of L tokens (with BOS) at budget K. */
export async function baselinePrefix(
  model: LanguageModel,
  name: BaselineName,
  contextIds: readonly number[],
  K: number,
  ratio: number,
): Promise<ReaderPrefix> {
  const bos = contextIds[0] as number;
  const tokens = contextIds.slice(1);
  switch (name) {
    case "full":
      return prefixOf(model, contextIds);
    case "none":
      return prefixOf(model, [bos]);
    case "last-k":
      return prefixOf(model, [bos, ...tokens.slice(-K)]);
    case "every-r": {
      const kept = tokens.filter((_, i) => (i + 1) % Math.round(ratio) === 0).slice(0, K);
      return prefixOf(model, [bos, ...kept]);
    }
    case "surprisal": {
      // Keep the K tokens θ finds most surprising, in their original order.
      const scores = await surprisals(model, contextIds);
      const chosen = Array.from(scores.keys())
        .sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b)
        .slice(0, K)
        .sort((a, b) => a - b);
      return prefixOf(model, [bos, ...chosen.map((i) => tokens[i] as number)]);
    }
    case "mean-pooled": {
      const { cache } = await model.forward({ ids: contextIds });
      return { cache: meanPooled(cache, contextIds.length, K, ratio), nextPosition: contextIds.length };
    }
  }
}

/** Returns the reader's prefix for a memory: θ's BOS sink, then the memory at its positions. */
export function memoryPrefix(sink: KvCache, layers: readonly MemoryLayer[], positions: readonly number[]): ReaderPrefix {
  return { cache: memoryCache(sink, layers, positions), nextPosition: (positions.at(-1) ?? 0) + 1 };
}
