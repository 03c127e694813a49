/**
 * The teacher cache: the frozen model with the full context builds every training sample
 * once, reusing the context's keys and values (prefix caching) for all of them.
 *
 * Legend: L context tokens (with BOS), T tokens of a sample, V vocabulary, k kept entries.
 */

import { type KvCache, type LanguageModel, Sampler, argmax } from "@lcc/models";

/** The teacher's distribution over each token of a sample. */
export type TeacherDistribution =
  | { readonly kind: "full"; readonly logProbabilities: Float32Array } // [T, V]
  | { readonly kind: "top-k"; readonly k: number; readonly ids: Int32Array; readonly logProbabilities: Float32Array }; // [T, k] each

export interface TrainingSample {
  readonly kind: "reconstruction" | "regularisation";
  /** Reader input tokens [x; y] without the last answer token. */
  readonly ids: readonly number[]; // [T]
  /** The token each input position predicts. */
  readonly goldIds: readonly number[]; // [T]
  /** 1 where the position predicts an answer token. */
  readonly mask: readonly number[]; // [T]
  readonly teacher: TeacherDistribution;
}

export interface TeacherOptions {
  /** Keep only the top k entries per token; null stores full distributions. */
  readonly topK: number | null;
  /** Tokens separating the context from the reconstruction answer (for a base model: [BOS]). */
  readonly reconstructionPrompt: readonly number[];
  /** Tokens the teacher generates greedily for each regularisation query. Example: 24. */
  readonly answerTokens: number;
  /** Sampling temperature of the answers; 0 answers greedily. */
  readonly answerTemperature: number;
  /** Seed of the answer sampler; each query adds its index. */
  readonly seed: number;
}

/** Log-softmax of each row of `logits` [T, V], in float64 internally. */
export function logSoftmaxRows(logits: Float32Array, vocabSize: number): Float32Array {
  const rows = logits.length / vocabSize;
  const out = new Float32Array(logits.length);
  for (let r = 0; r < rows; r++) {
    const offset = r * vocabSize;
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < vocabSize; v++) max = Math.max(max, logits[offset + v] as number);
    let sum = 0;
    for (let v = 0; v < vocabSize; v++) sum += Math.exp((logits[offset + v] as number) - max);
    const logSum = max + Math.log(sum);
    for (let v = 0; v < vocabSize; v++) out[offset + v] = (logits[offset + v] as number) - logSum;
  }
  return out;
}

/** Keeps the k most likely entries of each row of log-probabilities [T, V]. */
export function topKRows(logProbabilities: Float32Array, vocabSize: number, k: number): TeacherDistribution {
  const rows = logProbabilities.length / vocabSize;
  const ids = new Int32Array(rows * k);
  const kept = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const row = logProbabilities.subarray(r * vocabSize, (r + 1) * vocabSize);
    const order = Array.from(row.keys()).sort((a, b) => (row[b] as number) - (row[a] as number) || a - b);
    for (let i = 0; i < k; i++) {
      ids[r * k + i] = order[i] as number;
      kept[r * k + i] = row[order[i] as number] as number;
    }
  }
  return { kind: "top-k", k, ids, logProbabilities: kept };
}

function distribution(logits: Float32Array, vocabSize: number, topK: number | null): TeacherDistribution {
  const logProbabilities = logSoftmaxRows(logits, vocabSize);
  return topK === null ? { kind: "full", logProbabilities } : topKRows(logProbabilities, vocabSize, topK);
}

/** θ's keys and values of the context, computed once. */
export async function contextCache(model: LanguageModel, contextIds: readonly number[]): Promise<KvCache> {
  return (await model.forward({ ids: contextIds })).cache;
}

/** Reconstruction: after [C; prompt], the teacher reads C again, teacher-forced. */
export async function reconstructionSample(
  model: LanguageModel,
  context: KvCache,
  contextIds: readonly number[],
  options: TeacherOptions,
): Promise<TrainingSample> {
  const answer = contextIds.slice(1); // y = C without its BOS
  const ids = [...options.reconstructionPrompt, ...answer.slice(0, -1)];
  const promptLength = options.reconstructionPrompt.length;
  const goldIds = [...options.reconstructionPrompt.slice(1), ...answer];
  const mask = ids.map((_, t) => (t >= promptLength - 1 ? 1 : 0));
  const { logits } = await model.forwardAll({ ids, cache: context });
  return { kind: "reconstruction", ids, goldIds, mask, teacher: distribution(logits, model.config.vocabSize, options.topK) };
}

/** Regularisation: the teacher answers a context-agnostic query, then scores its own answer. */
export async function regularisationSample(
  model: LanguageModel,
  context: KvCache,
  query: readonly number[],
  options: TeacherOptions,
  queryIndex = 0,
): Promise<TrainingSample> {
  // The teacher's answer given [C; x], generated once: greedy, or sampled at a temperature.
  const sampler = options.answerTemperature > 0 ? new Sampler({ temperature: options.answerTemperature, seed: options.seed + queryIndex }) : null;
  let step = await model.forward({ ids: query, cache: context });
  const answer: number[] = [];
  for (let i = 0; i < options.answerTokens; i++) {
    const next = sampler === null ? argmax(step.logits) : sampler.sample(step.logits);
    answer.push(next);
    if (i + 1 < options.answerTokens) step = await model.forward({ ids: [next], cache: step.cache });
  }

  // Teacher distributions over the query's last token and the answer, teacher-forced.
  const ids = [...query, ...answer.slice(0, -1)];
  const goldIds = [...query.slice(1), ...answer];
  const mask = ids.map((_, t) => (t >= query.length - 1 ? 1 : 0));
  const { logits } = await model.forwardAll({ ids, cache: context });
  return { kind: "regularisation", ids, goldIds, mask, teacher: distribution(logits, model.config.vocabSize, options.topK) };
}
