/**
 * A loaded model ready to run: prefill and decode sessions over one set of weights,
 * with a key/value cache that callers can extend with a prefix at any positions.
 */

import { InvalidArgumentError, Session, type SessionOptions, Tensor } from "@lcc/tensor";
import type { LlamaConfig, LoadedModel } from "../config.js";
import { ContextLengthError, TokenIdError } from "../errors.js";
import { IO, buildInferenceGraph } from "../llama/graphs.js";

/**
 * Keys and values of every layer for the tokens seen so far, with their positions.
 * Tensors are [1, Hkv, S, Dh] float32; keys have RoPE applied.
 */
export interface KvCache {
  readonly keys: readonly Tensor[];
  readonly values: readonly Tensor[];
  readonly positions: readonly number[];
}

export interface StepResult {
  /** Logits of the last new token. */
  readonly logits: Float32Array; // [V]
  readonly cache: KvCache;
}

export interface ForwardRequest {
  readonly ids: readonly number[];
  /** Positions of the new tokens; default continues after the cache's last position. */
  readonly positions?: readonly number[];
  readonly cache?: KvCache | null;
}

type SessionKind = "prefill-last" | "prefill-all" | "decode-last" | "decode-all";

export class LanguageModel {
  private readonly sessions = new Map<SessionKind, Promise<Session>>();

  constructor(
    readonly model: LoadedModel,
    private readonly sessionOptions: SessionOptions = {},
  ) {}

  get config(): LlamaConfig {
    return this.model.config;
  }

  /** Builds the prefill and decode sessions now instead of on first use (keeps timings honest). */
  async prepare(): Promise<void> {
    await Promise.all([this.session("prefill-last"), this.session("decode-last")]);
  }

  /** An empty cache with no tokens. */
  emptyCache(): KvCache {
    const { numLayers, numKvHeads, headDim } = this.config;
    const empty = () => new Tensor("float32", [1, numKvHeads, 0, headDim]);
    return { keys: Array.from({ length: numLayers }, empty), values: Array.from({ length: numLayers }, empty), positions: [] };
  }

  /** Runs new tokens after `cache` and returns the last token's logits and the extended cache. */
  async forward(request: ForwardRequest): Promise<StepResult> {
    const { logits, cache } = await this.run(request, "last");
    return { logits, cache };
  }

  /** Logits of every new token, [T, V] row-major, for scoring and teacher distributions. */
  async forwardAll(request: ForwardRequest): Promise<{ logits: Float32Array; cache: KvCache }> {
    return this.run(request, "all");
  }

  async dispose(): Promise<void> {
    const pending = [...this.sessions.values()];
    this.sessions.clear();
    for (const session of pending) await (await session).dispose();
  }

  private async run(request: ForwardRequest, logitsMode: "last" | "all"): Promise<{ logits: Float32Array; cache: KvCache }> {
    const cache = request.cache ?? null;
    const ids = request.ids;
    const positions = request.positions ?? defaultPositions(cache, ids.length);
    this.validate(ids, positions, cache);

    // Prefill when there is no past; decode otherwise. Full logits use graphs of their own.
    const hasPast = cache !== null && cache.positions.length > 0;
    const kind: SessionKind = `${hasPast ? "decode" : "prefill"}-${logitsMode}`;
    const session = await this.session(kind);
    const T = ids.length;
    const feeds: Record<string, Tensor> = {
      [IO.inputIds]: Tensor.int64([1, T], ids),
      [IO.positionIds]: Tensor.int64([1, T], positions),
    };
    if (hasPast) {
      feeds[IO.pastPositionIds] = Tensor.int64([1, cache.positions.length], cache.positions);
      for (let l = 0; l < this.config.numLayers; l++) {
        feeds[IO.pastKey(l)] = cache.keys[l] as Tensor;
        feeds[IO.pastValue(l)] = cache.values[l] as Tensor;
      }
    }
    const outputs = await session.run(feeds);
    const logits = (outputs[IO.logits] as Tensor).data as Float32Array; // [1, T|1, V]
    const keys: Tensor[] = [];
    const values: Tensor[] = [];
    for (let l = 0; l < this.config.numLayers; l++) {
      keys.push(outputs[IO.presentKey(l)] as Tensor);
      values.push(outputs[IO.presentValue(l)] as Tensor);
    }
    const allPositions = [...(cache?.positions ?? []), ...positions];
    return { logits, cache: { keys, values, positions: allPositions } };
  }

  private validate(ids: readonly number[], positions: readonly number[], cache: KvCache | null): void {
    const { vocabSize, maxPositions } = this.config;
    if (ids.length === 0) throw new InvalidArgumentError("at least one token id is required");
    if (positions.length !== ids.length) {
      throw new InvalidArgumentError(`got ${ids.length} token ids but ${positions.length} positions; pass one position per token`);
    }
    const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
    if (bad >= 0) {
      throw new TokenIdError(`token id ${ids[bad]} at index ${bad} is outside the vocabulary [0, ${vocabSize}) of ${this.config.name}`, {
        details: { id: ids[bad], index: bad, vocabSize },
      });
    }
    const total = (cache?.positions.length ?? 0) + ids.length;
    const maxPosition = positions.reduce((a, b) => Math.max(a, b), -1);
    if (total > maxPositions || maxPosition >= maxPositions) {
      throw new ContextLengthError(
        `the sequence needs ${total} tokens (last position ${maxPosition}) but ${this.config.name}'s context window is ${maxPositions} tokens; shorten the prompt, lower --max-tokens or use a model with a longer window`,
        { details: { tokens: total, maxPosition, window: maxPositions } },
      );
    }
    if (positions.some((p) => !Number.isInteger(p) || p < 0)) throw new InvalidArgumentError("positions must be non-negative integers");
  }

  private session(kind: SessionKind): Promise<Session> {
    let session = this.sessions.get(kind);
    if (session === undefined) {
      const [mode, logits] = kind.split("-") as ["prefill" | "decode", "last" | "all"];
      session = Session.create(buildInferenceGraph(this.model, { mode, logits }), this.sessionOptions);
      this.sessions.set(kind, session);
    }
    return session;
  }

}

function defaultPositions(cache: KvCache | null, count: number): number[] {
  const start = cache === null ? 0 : cache.positions.reduce((a, b) => Math.max(a, b), -1) + 1;
  return Array.from({ length: count }, (_, i) => start + i);
}
