/**
 * Fidelity of a memory and of every equal-budget baseline on one story: continuation
 * negative log-likelihood, the share of the no-context → full-context gap it closes, and
 * teacher-forced reconstruction accuracy of the context.
 */

import { type CompileOptions, type CompileProgress, compileContext, sinkCache } from "@lcc/compiler";
import type { LanguageModel, LoadedModel } from "@lcc/models";
import { BASELINES, type BaselineName, type ReaderPrefix, baselinePrefix, memoryPrefix } from "./baselines.js";

/** Scores of one prefix on one story. */
export interface PrefixScore {
  /** Summed negative log-likelihood of the continuation's tokens (nats). */
  readonly continuationNll: number;
  /** (nll_none - nll) / (nll_none - nll_full); 1 is as good as the full context. */
  readonly gapClosed: number;
  /** Teacher-forced next-token accuracy when reading the context back after [BOS]. */
  readonly reconstructionAccuracy: number;
}

export interface StoryFidelity {
  readonly id: string;
  readonly contextTokens: number;
  readonly continuationTokens: number;
  readonly bufferTokens: number;
  readonly compileSeconds: Readonly<Record<string, number>>;
  /** Scores by prefix: each memory variant and each baseline. */
  readonly scores: Readonly<Record<string, PrefixScore>>;
}

/** Summed NLL and argmax accuracy of `targets` given `inputs` after a prefix. */
export async function scoreSequence(model: LanguageModel, prefix: ReaderPrefix, inputs: readonly number[], targets: readonly number[]): Promise<{ nll: number; accuracy: number }> {
  const V = model.config.vocabSize;
  const positions = inputs.map((_, i) => prefix.nextPosition + i);
  const { logits } = await model.forwardAll({ ids: inputs, positions, cache: prefix.cache });
  let nll = 0;
  let hits = 0;
  for (let t = 0; t < targets.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let max = Number.NEGATIVE_INFINITY;
    let best = 0;
    for (let v = 0; v < V; v++) {
      if ((row[v] as number) > max) {
        max = row[v] as number;
        best = v;
      }
    }
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    nll += max + Math.log(sum) - (row[targets[t] as number] as number);
    if (best === targets[t]) hits += 1;
  }
  return { nll, accuracy: hits / targets.length };
}

export interface StoryRequest {
  readonly id: string;
  /** The story's token ids with BOS; its first half is compiled, its second half read. */
  readonly ids: readonly number[];
  readonly queryPool: readonly (readonly number[])[];
  /** Memory variants to compile, by label, e.g. { "memory (KL)": { reconstructionLoss: "kl" } }. */
  readonly variants: Readonly<Record<string, Partial<CompileOptions>>>;
  readonly ratio: number;
  readonly baselines?: readonly BaselineName[];
  /** Receives the compile progress of each variant, with the variant's label. */
  readonly onProgress?: (label: string, event: CompileProgress) => void;
  /** Cancels the compilations. */
  readonly signal?: AbortSignal;
}

/** Compiles each variant on the story's first half and scores every prefix on both halves. */
export async function evaluateStory(model: LoadedModel, reader: LanguageModel, request: StoryRequest): Promise<StoryFidelity> {
  const half = Math.floor(request.ids.length / 2);
  const context = request.ids.slice(0, half); // [BOS, c_1 .. c_{L-1}]
  const continuation = request.ids.slice(half);
  const continuationInputs = continuation.slice(0, -1);
  const continuationTargets = continuation.slice(1);
  const answer = context.slice(1);
  const reconstructionInputs = [context[0] as number, ...answer.slice(0, -1)];
  const K = Math.ceil(answer.length / request.ratio);

  const prefixes = new Map<string, ReaderPrefix>();
  for (const name of request.baselines ?? BASELINES) prefixes.set(name, await baselinePrefix(reader, name, context, K, request.ratio));
  const compileSeconds: Record<string, number> = {};
  const sink = await sinkCache(reader);
  for (const [label, options] of Object.entries(request.variants)) {
    const compiled = await compileContext({
      model,
      contextIds: answer,
      queryPool: request.queryPool,
      options: { ...options, ratio: request.ratio },
      onProgress: request.onProgress === undefined ? undefined : (event) => request.onProgress?.(label, event),
      signal: request.signal,
    });
    compileSeconds[label] = compiled.wallSeconds;
    prefixes.set(label, memoryPrefix(sink, compiled.layers, compiled.positions));
  }

  // Score every prefix on the continuation and on reading the context back.
  const raw = new Map<string, { nll: number; accuracy: number }>();
  for (const [label, prefix] of prefixes) {
    const continuationScore = await scoreSequence(reader, prefix, continuationInputs, continuationTargets);
    const reconstruction = await scoreSequence(reader, prefix, reconstructionInputs, answer);
    raw.set(label, { nll: continuationScore.nll, accuracy: reconstruction.accuracy });
  }
  const none = raw.get("none")?.nll ?? Number.NaN;
  const full = raw.get("full")?.nll ?? Number.NaN;
  const scores: Record<string, PrefixScore> = {};
  for (const [label, value] of raw) {
    scores[label] = { continuationNll: value.nll, gapClosed: (none - value.nll) / (none - full), reconstructionAccuracy: value.accuracy };
  }
  return { id: request.id, contextTokens: context.length, continuationTokens: continuationTargets.length, bufferTokens: K, compileSeconds, scores };
}

export interface FidelitySummary {
  readonly stories: number;
  /** Mean over stories, by prefix label. */
  readonly mean: Readonly<Record<string, PrefixScore & { readonly perplexity: number }>>;
}

export function summarise(results: readonly StoryFidelity[]): FidelitySummary {
  const labels = Object.keys(results[0]?.scores ?? {});
  const mean: Record<string, PrefixScore & { perplexity: number }> = {};
  for (const label of labels) {
    const pick = (f: (s: PrefixScore) => number) => results.reduce((sum, r) => sum + f(r.scores[label] as PrefixScore), 0) / results.length;
    const tokens = results.reduce((sum, r) => sum + r.continuationTokens, 0);
    const nll = results.reduce((sum, r) => sum + (r.scores[label] as PrefixScore).continuationNll, 0);
    mean[label] = {
      continuationNll: pick((s) => s.continuationNll),
      gapClosed: pick((s) => s.gapClosed),
      reconstructionAccuracy: pick((s) => s.reconstructionAccuracy),
      perplexity: Math.exp(nll / tokens),
    };
  }
  return { stories: results.length, mean };
}

