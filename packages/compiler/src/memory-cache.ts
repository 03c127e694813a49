/**
 * Turns a memory into the key/value cache a reader continues from: θ's own BOS entry at
 * position 0 (the attention sink), then the memory at its compiled positions.
 */

import type { KvCache, LanguageModel } from "@lcc/models";
import { Tensor } from "@lcc/tensor";
import { type MemoryLayer, headsFirst } from "./compile.js";

function concatAxis2(a: Tensor, b: Tensor): Tensor<"float32"> {
  // [1, Hkv, P, Dh] ++ [1, Hkv, Q, Dh] -> [1, Hkv, P+Q, Dh]
  const [, Hkv, P, Dh] = a.shape as [number, number, number, number];
  const Q = b.shape[2] as number;
  const out = new Float32Array(Hkv * (P + Q) * Dh);
  for (let h = 0; h < Hkv; h++) {
    out.set((a.data as Float32Array).subarray(h * P * Dh, (h + 1) * P * Dh), h * (P + Q) * Dh);
    out.set((b.data as Float32Array).subarray(h * Q * Dh, (h + 1) * Q * Dh), (h * (P + Q) + P) * Dh);
  }
  return new Tensor("float32", [1, Hkv, P + Q, Dh], out);
}

/** The cache of θ after the BOS token alone at position 0. */
export async function sinkCache(model: LanguageModel): Promise<KvCache> {
  return (await model.forward({ ids: [model.config.bosTokenId], positions: [0] })).cache;
}

/** [sink; memory] as a cache; `layers` are [K, Hkv, Dh] at `positions`. */
export function memoryCache(sink: KvCache, layers: readonly MemoryLayer[], positions: readonly number[]): KvCache {
  return {
    keys: layers.map((layer, l) => concatAxis2(sink.keys[l] as Tensor, headsFirst(layer.keys))),
    values: layers.map((layer, l) => concatAxis2(sink.values[l] as Tensor, headsFirst(layer.values))),
    positions: [...sink.positions, ...positions],
  };
}
