/**
 * Compiles a whole context: splits it into segments of at most `segmentTokens` tokens,
 * compiles each one, and concatenates their memories with consecutive positions
 * (each segment's keys re-based by a RoPE rotation).
 */

import { type LoadedModel, rebaseKeys } from "@lcc/models";
import { InvalidArgumentError, type SessionOptions, Tensor } from "@lcc/tensor";
import { type MemoryLayer, type SegmentJob, type SegmentResult, type StepRecord, compileSegment } from "./compile.js";
import { CompileInputError } from "./errors.js";
import { type CompileOptions, resolveCompileOptions } from "./options.js";
import type { CompileProgress } from "./progress.js";

export interface CompileRequest {
  readonly model: LoadedModel;
  /** Context token ids without BOS (the compiler adds it per segment). */
  readonly contextIds: readonly number[];
  /** Query pool entries as token ids without BOS. */
  readonly queryPool: readonly (readonly number[])[];
  readonly options?: Partial<CompileOptions>;
  readonly sessionOptions?: SessionOptions;
  readonly onProgress?: (event: CompileProgress) => void;
  readonly signal?: AbortSignal;
  /** Receives each segment's initial trainable state (see `SegmentJob.onInitialState`). */
  readonly onInitialState?: SegmentJob["onInitialState"];
}

export interface SegmentSummary {
  /** Range of context tokens [start, end) the segment covers (BOS excluded). */
  readonly start: number;
  readonly end: number;
  readonly bufferTokens: number;
  readonly finalLosses: Readonly<Record<string, number>>;
  readonly steps: number;
}

/** A compiled memory before it is written as an artifact. */
export interface CompiledMemory {
  readonly layers: MemoryLayer[]; // per layer [K, Hkv, Dh]
  readonly positions: number[]; // [K]
  readonly sourceTokens: number;
  readonly bufferTokens: number;
  readonly segments: SegmentSummary[];
  readonly options: CompileOptions;
  readonly history: StepRecord[][];
  readonly wallSeconds: number;
}

export async function compileContext(request: CompileRequest): Promise<CompiledMemory> {
  const started = performance.now();
  const options = resolveCompileOptions(request.options);
  const { model, contextIds } = request;
  const { config } = model;

  // Validate the input before any work.
  if (!Array.isArray(contextIds) || contextIds.length === 0) {
    throw new CompileInputError("the context is empty; give a text with at least one token");
  }
  if (contextIds.length < options.ratio) {
    throw new CompileInputError(
      `the context has ${contextIds.length} tokens, fewer than the compression ratio ${options.ratio}; use a longer text or a lower --ratio`,
      { details: { tokens: contextIds.length, ratio: options.ratio } },
    );
  }
  const bad = contextIds.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= config.vocabSize);
  if (bad >= 0) throw new InvalidArgumentError(`context token ${contextIds[bad]} at index ${bad} is outside the vocabulary of ${config.name}`);
  if (options.queries > 0 && request.queryPool.length < options.queries + options.heldOutQueries) {
    throw new InvalidArgumentError(
      `the query pool has ${request.queryPool.length} entries but ${options.queries + options.heldOutQueries} queries were requested; lower --queries or use a larger pool`,
    );
  }
  // The reconstruction teacher reads [BOS; segment; BOS; segment], so a segment (with its
  // BOS) may fill at most half of the model's window.
  if (typeof options.bufferInit === "object" && options.bufferInit.token >= config.vocabSize) {
    throw new InvalidArgumentError(
      `bufferInit token ${options.bufferInit.token} is outside the vocabulary [0, ${config.vocabSize}) of ${config.name}; pick a token id below ${config.vocabSize}`,
    );
  }
  const segmentLength = Math.min(options.segmentTokens, Math.floor(config.maxPositions / 2)) - 1;
  const segmentCount = Math.ceil(contextIds.length / segmentLength);

  // The memory sits after the first segment's context and must leave room for a prompt.
  const firstSegment = Math.min(segmentLength, contextIds.length) + 1;
  let totalBuffer = 0;
  for (let index = 0; index < segmentCount; index++) {
    const tokens = Math.min(segmentLength, contextIds.length - index * segmentLength);
    totalBuffer += Math.ceil(tokens / options.ratio);
  }
  if (firstSegment + totalBuffer >= config.maxPositions) {
    throw new CompileInputError(
      `the memory would end at position ${firstSegment + totalBuffer - 1}, leaving no room for a prompt in ${config.name}'s ${config.maxPositions}-position window (${contextIds.length} context tokens at ratio ${options.ratio} give ${totalBuffer} memory tokens after a ${firstSegment}-token first segment); use a higher --ratio or a shorter text`,
      { details: { memoryTokens: totalBuffer, window: config.maxPositions } },
    );
  }

  // Compile each segment as [BOS] + its tokens.
  const results: SegmentResult[] = [];
  for (let index = 0; index < segmentCount; index++) {
    const tokens = contextIds.slice(index * segmentLength, (index + 1) * segmentLength);
    results.push(
      await compileSegment({
        model,
        contextIds: [config.bosTokenId, ...tokens],
        queryPool: request.queryPool,
        options,
        sessionOptions: request.sessionOptions,
        onProgress: request.onProgress,
        signal: request.signal,
        onInitialState: request.onInitialState,
        segment: { index, count: segmentCount },
      }),
    );
  }

  // Concatenate: each segment's buffer follows the previous one's positions.
  const first = results[0] as SegmentResult;
  const positions: number[] = [];
  const perLayerKeys: Float32Array[][] = Array.from({ length: config.numLayers }, () => []);
  const perLayerValues: Float32Array[][] = Array.from({ length: config.numLayers }, () => []);
  let next = first.positions[0] as number;
  for (const result of results) {
    const delta = next - (result.positions[0] as number);
    for (let l = 0; l < config.numLayers; l++) {
      const layer = result.layers[l] as MemoryLayer;
      (perLayerKeys[l] as Float32Array[]).push(delta === 0 ? layer.keys.data : rebaseKeys(layer.keys.data, config, delta));
      (perLayerValues[l] as Float32Array[]).push(layer.values.data);
    }
    for (let k = 0; k < result.bufferTokens; k++) positions.push(next + k);
    next += result.bufferTokens;
  }
  const K = positions.length;
  const join = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return new Tensor("float32", [K, config.numKvHeads, config.headDim], out);
  };
  const layers = perLayerKeys.map((keys, l) => ({ keys: join(keys), values: join(perLayerValues[l] as Float32Array[]) }));

  return {
    layers,
    positions,
    sourceTokens: contextIds.length,
    bufferTokens: K,
    segments: results.map((result, index) => ({
      start: index * segmentLength,
      end: Math.min((index + 1) * segmentLength, contextIds.length),
      bufferTokens: result.bufferTokens,
      finalLosses: result.history.at(-1)?.losses ?? {},
      steps: result.history.length,
    })),
    options,
    history: results.map((r) => r.history),
    wallSeconds: (performance.now() - started) / 1000,
  };
}
