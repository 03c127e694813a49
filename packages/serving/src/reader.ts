/**
 * Running one admitted request on the shared model: compose the memories behind θ's
 * BOS entry, run the prompt after them (prefill), then sample and decode one token at a
 * time, or score a continuation.
 *
 * Legend: T prompt tokens, V vocabulary.
 */

import type { Memory } from "@lcc/artifact";
import { ContextLengthError, type KvCache, type LanguageModel, type Sampler, type StepResult, type TextTokenizer } from "@lcc/models";
import { type ComposedCache, composeCache } from "./compose.js";
import type { GenerationWriter } from "./generation.js";
import type { FinishReason, GenerationSummary, ScoreResult } from "./request.js";
import { StopStringMatcher } from "./stop.js";

/** The engine's shared, read-only parts. */
export interface ReaderContext {
  readonly languageModel: LanguageModel;
  readonly tokenizer: TextTokenizer;
  /** θ's cache after BOS alone at position 0. */
  readonly sink: KvCache;
  readonly loadMemory: (id: string) => Promise<Memory>;
}

export interface GenerationJob {
  readonly memoryIds: readonly string[];
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly sampler: Sampler;
  readonly stops: readonly string[];
  readonly stopTokenIds: ReadonlySet<number>;
  readonly signal: AbortSignal;
  /** performance.now() when generate was called. */
  readonly requestedAt: number;
  /** performance.now() when the request got its slot. */
  readonly startedAt: number;
}

/** Loads and composes the memories and checks that `tokens` more tokens fit the window after them. */
async function prepareCache(context: ReaderContext, memoryIds: readonly string[], tokens: number): Promise<ComposedCache> {
  const memories: Memory[] = [];
  for (const id of memoryIds) memories.push(await context.loadMemory(id));
  const { config } = context.languageModel;
  const composed = composeCache(context.sink, memories, config);

  const lastPosition = composed.nextPosition + tokens - 1;
  const total = composed.cache.positions.length + tokens;
  if (lastPosition >= config.maxPositions || total > config.maxPositions) {
    throw new ContextLengthError(
      `the memories end at position ${composed.nextPosition - 1} and the prompt adds ${tokens} tokens, up to position ${lastPosition}, but ${config.name}'s context window is ${config.maxPositions} positions; read fewer memories or shorten the prompt`,
      { details: { memoryEnd: composed.nextPosition - 1, promptTokens: tokens, window: config.maxPositions } },
    );
  }
  return composed;
}

function positionsFrom(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

/** Runs a generation to its end, pushing chunks to `writer`, and returns its summary. */
export async function runGeneration(context: ReaderContext, job: GenerationJob, writer: GenerationWriter): Promise<GenerationSummary> {
  const { languageModel, tokenizer } = context;
  const { config } = languageModel;
  const queueMs = job.startedAt - job.requestedAt;
  const tokenIds: number[] = [];
  let text = "";
  let finishReason: FinishReason = "length";
  let stopString: string | null = null;
  let stopTokenId: number | null = null;
  let timeToFirstTokenMs: number | null = null;
  let prefillMs = 0;
  let decodeMs = 0;
  let decodeSteps = 0;
  let memoryTokens = 0;

  const summary = (): GenerationSummary => ({
    finishReason,
    stopString,
    stopTokenId,
    text,
    tokenIds,
    promptTokens: job.promptIds.length,
    memoryTokens,
    completionTokens: tokenIds.length,
    timings: { queueMs, prefillMs, decodeMs, timeToFirstTokenMs, decodeTokensPerSecond: decodeSteps > 0 ? (decodeSteps * 1000) / decodeMs : null },
  });
  if (job.signal.aborted) {
    finishReason = "cancelled";
    return summary();
  }

  // Prefill: [sink; memories; prompt] with the prompt right after the last memory.
  const prefillStart = performance.now();
  const composed = await prepareCache(context, job.memoryIds, job.promptIds.length);
  memoryTokens = composed.memoryTokens;
  if (job.maxTokens === 0) return summary();
  let step: StepResult = await languageModel.forward({
    ids: job.promptIds,
    positions: positionsFrom(composed.nextPosition, job.promptIds.length),
    cache: composed.cache,
  });
  prefillMs = performance.now() - prefillStart;

  // Decode: sample, check the stop rules, emit, run the token.
  const decoder = tokenizer.createStreamDecoder(job.promptIds);
  const matcher = new StopStringMatcher(job.stops);
  let lastPosition = composed.nextPosition + job.promptIds.length - 1;
  for (;;) {
    if (job.signal.aborted) {
      finishReason = "cancelled";
      break;
    }
    const id = job.sampler.sample(step.logits);
    timeToFirstTokenMs ??= performance.now() - job.requestedAt;
    if (job.stopTokenIds.has(id)) {
      finishReason = "stop";
      stopTokenId = id;
      break;
    }
    tokenIds.push(id);
    const match = matcher.push(decoder.push(id));
    text += match.text;
    if (match.stop !== null) {
      writer.push({ tokenId: id, text: match.text });
      finishReason = "stop";
      stopString = match.stop;
      return summary();
    }

    // The last token: the limit is reached or the window has no room for it to be run.
    const windowFull = lastPosition + 1 >= config.maxPositions || step.cache.positions.length + 1 > config.maxPositions;
    if (tokenIds.length === job.maxTokens || windowFull) {
      const rest = matcher.push(decoder.flush());
      const released = match.text + rest.text + (rest.stop === null ? matcher.flush() : "");
      text += released.slice(match.text.length);
      writer.push({ tokenId: id, text: released });
      if (rest.stop !== null) {
        finishReason = "stop";
        stopString = rest.stop;
      }
      return summary();
    }
    writer.push({ tokenId: id, text: match.text });

    const decodeStart = performance.now();
    step = await languageModel.forward({ ids: [id], positions: [lastPosition + 1], cache: step.cache });
    lastPosition++;
    decodeMs += performance.now() - decodeStart;
    decodeSteps++;
  }

  // A stop token or cancellation: release the text still held back.
  const rest = matcher.push(decoder.flush());
  const released = rest.text + (rest.stop === null ? matcher.flush() : "");
  if (rest.stop !== null && finishReason !== "cancelled") {
    finishReason = "stop";
    stopString = rest.stop;
  }
  if (released.length > 0) {
    text += released;
    writer.push({ tokenId: null, text: released });
  }
  return summary();
}

/** log softmax(row)[id] in float64. */
function logProbability(row: Float32Array, id: number): number {
  let max = -Infinity;
  for (const value of row) max = Math.max(max, value);
  let sum = 0;
  for (const value of row) sum += Math.exp(value - max);
  return (row[id] as number) - max - Math.log(sum);
}

/** Scores `continuationIds` after `promptIds` with the memories in front. */
export async function runScore(
  context: ReaderContext,
  memoryIds: readonly string[],
  promptIds: readonly number[],
  continuationIds: readonly number[],
): Promise<ScoreResult> {
  const { languageModel } = context;
  const V = languageModel.config.vocabSize;

  // One pass over prompt + continuation without its last token: row t predicts token t + 1.
  const ids = [...promptIds, ...continuationIds].slice(0, -1);
  const composed = await prepareCache(context, memoryIds, ids.length);
  const { logits } = await languageModel.forwardAll({ ids, positions: positionsFrom(composed.nextPosition, ids.length), cache: composed.cache }); // [T, V]

  const logProbs = continuationIds.map((id, t) => {
    const row = promptIds.length - 1 + t;
    return logProbability(logits.subarray(row * V, (row + 1) * V), id);
  });
  return {
    continuationIds: [...continuationIds],
    logProbs,
    totalLogProb: logProbs.reduce((a, b) => a + b, 0),
    promptTokens: promptIds.length,
    memoryTokens: composed.memoryTokens,
  };
}
