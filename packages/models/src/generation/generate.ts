/**
 * The token generation loop: one prefill, then one decode step per new token.
 */

import { InvalidArgumentError } from "@lcc/tensor";
import type { KvCache, LanguageModel } from "./language-model.js";
import { Sampler, type SamplingOptions } from "./sampler.js";

export interface GenerateOptions extends SamplingOptions {
  /** Maximum number of new tokens. Example: 200. */
  readonly maxTokens: number;
  /** Token ids that end generation (not yielded). Default: the model's end-of-sequence ids. */
  readonly stopTokenIds?: readonly number[];
  /** A prefix already in the cache (for example a memory) that the prompt follows. */
  readonly cache?: KvCache | null;
  /** Positions of the prompt tokens; default continues after the cache. */
  readonly positions?: readonly number[];
  readonly signal?: AbortSignal;
}

export interface GeneratedToken {
  readonly id: number;
  /** Index of this token among the generated ones, from 0. */
  readonly index: number;
  /** Milliseconds spent in the prefill (for index 0) or in this decode step. */
  readonly elapsedMs: number;
}

/** Yields generated token ids one at a time. */
export async function* generateTokens(model: LanguageModel, promptIds: readonly number[], options: GenerateOptions): AsyncGenerator<GeneratedToken> {
  if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0) {
    throw new InvalidArgumentError(`max tokens must be a non-negative integer, got ${options.maxTokens}`);
  }
  const sampler = new Sampler(options);
  const stop = new Set(options.stopTokenIds ?? model.config.eosTokenIds);
  if (options.maxTokens === 0) return;

  // Prefill the prompt.
  let started = performance.now();
  let step = await model.forward({ ids: promptIds, positions: options.positions, cache: options.cache ?? null });
  for (let index = 0; index < options.maxTokens; index++) {
    options.signal?.throwIfAborted();
    const id = sampler.sample(step.logits);
    const elapsedMs = performance.now() - started;
    if (stop.has(id)) return;
    yield { id, index, elapsedMs };
    if (index + 1 === options.maxTokens) return;

    // Decode one token.
    started = performance.now();
    step = await model.forward({ ids: [id], cache: step.cache });
  }
}
