/**
 * Composition: the key/value cache a request reads, [θ's BOS at position 0; memory 1;
 * memory 2; …], with each memory after the first re-based to follow the previous one.
 *
 * Re-basing relies on RoPE encoding relative position: rotating a key from position p to
 * p + delta gives the key θ would have produced at p + delta, so a memory can be moved as
 * a whole without recompiling it. Values carry no position and are copied unchanged.
 *
 * Legend: K buffer tokens of one memory, M buffer tokens of all memories, Hkv key/value
 * heads, Dh head width.
 */

import type { Memory } from "@lcc/artifact";
import { type KvCache, type LlamaConfig, rebaseKeys } from "@lcc/models";
import { Tensor } from "@lcc/tensor";

/** The placement of one memory in a request. */
export interface MemoryPlacement {
  /** Added to every position of the memory; 0 for the first memory. */
  readonly delta: number;
  /** First and last position of the memory after re-basing. */
  readonly firstPosition: number;
  readonly lastPosition: number;
}

export interface ComposedCache {
  /** The sink followed by every memory, [1, Hkv, 1 + M, Dh] per layer. */
  readonly cache: KvCache;
  readonly placements: readonly MemoryPlacement[];
  /** The position right after the last memory (or the sink), where the prompt starts. */
  readonly nextPosition: number;
  /** M, buffer tokens of all memories together. */
  readonly memoryTokens: number;
}

/**
 * Places `memories` one after another in request order. The first memory keeps the
 * positions it was compiled at. Every later memory is shifted by one delta, so that its
 * smallest position is one more than the largest position placed before it. Gaps between
 * positions inside a memory are kept.
 */
export function placeMemories(memories: readonly Memory[]): MemoryPlacement[] {
  const placements: MemoryPlacement[] = [];
  let next: number | null = null;
  for (const memory of memories) {
    const first = memory.positions.reduce((a, b) => Math.min(a, b), Infinity);
    const last = memory.positions.reduce((a, b) => Math.max(a, b), -Infinity);
    const delta: number = next === null ? 0 : next - first;
    placements.push({ delta, firstPosition: first + delta, lastPosition: last + delta });
    next = last + delta + 1;
  }
  return placements;
}

/**
 * Builds a fresh cache of `sink` (θ's cache after BOS at position 0) followed by the
 * memories, re-based by placeMemories. The result shares no array with `sink` or with
 * the memories, so a request that extends it cannot affect another request.
 */
export function composeCache(sink: KvCache, memories: readonly Memory[], config: LlamaConfig): ComposedCache {
  const { numLayers, numKvHeads: Hkv, headDim: Dh } = config;
  const placements = placeMemories(memories);
  const sinkLength = sink.positions.length;
  const M = memories.reduce((sum, memory) => sum + memory.positions.length, 0);
  const S = sinkLength + M;

  // Positions: the sink's, then each memory's shifted by its delta.
  const positions = [...sink.positions];
  memories.forEach((memory, i) => {
    const delta = (placements[i] as MemoryPlacement).delta;
    for (const position of memory.positions) positions.push(position + delta);
  });

  // Keys and values per layer: copy the sink, then each memory transposed to heads first.
  const keys: Tensor[] = [];
  const values: Tensor[] = [];
  for (let l = 0; l < numLayers; l++) {
    const layerKeys = new Float32Array(Hkv * S * Dh); // [Hkv, S, Dh]
    const layerValues = new Float32Array(Hkv * S * Dh); // [Hkv, S, Dh]
    copyHeadsFirst(layerKeys, sink.keys[l]?.data as Float32Array, sinkLength, 0, S, Hkv, Dh, "heads-first");
    copyHeadsFirst(layerValues, sink.values[l]?.data as Float32Array, sinkLength, 0, S, Hkv, Dh, "heads-first");

    let offset = sinkLength;
    memories.forEach((memory, i) => {
      const layer = memory.layers[l]!; // the store checked numLayers against the model
      const K = memory.positions.length;
      const delta = (placements[i] as MemoryPlacement).delta;
      const memoryKeys = delta === 0 ? layer.keys.data : rebaseKeys(layer.keys.data, config, delta); // [K, Hkv, Dh]
      copyHeadsFirst(layerKeys, memoryKeys, K, offset, S, Hkv, Dh, "tokens-first");
      copyHeadsFirst(layerValues, layer.values.data, K, offset, S, Hkv, Dh, "tokens-first");
      offset += K;
    });
    keys.push(new Tensor("float32", [1, Hkv, S, Dh], layerKeys));
    values.push(new Tensor("float32", [1, Hkv, S, Dh], layerValues));
  }

  const nextPosition = positions.reduce((a, b) => Math.max(a, b), -1) + 1;
  return { cache: { keys, values, positions }, placements, nextPosition, memoryTokens: M };
}

/**
 * Copies `count` tokens of `source` into `target` [Hkv, S, Dh] at token `offset`.
 * `source` is [Hkv, count, Dh] ("heads-first", a cache tensor without its batch axis) or
 * [count, Hkv, Dh] ("tokens-first", a memory layer).
 */
function copyHeadsFirst(
  target: Float32Array,
  source: Float32Array,
  count: number,
  offset: number,
  S: number,
  Hkv: number,
  Dh: number,
  layout: "heads-first" | "tokens-first",
): void {
  for (let h = 0; h < Hkv; h++) {
    for (let t = 0; t < count; t++) {
      const from = layout === "heads-first" ? (h * count + t) * Dh : (t * Hkv + h) * Dh;
      target.set(source.subarray(from, from + Dh), (h * S + offset + t) * Dh);
    }
  }
}
