/**
 * Evaluation suites over a data file: every story (or question) at every compression
 * ratio, with typed progress events for the caller to render. Libraries never print.
 */

import type { CompileOptions, CompileProgress } from "@lcc/compiler";
import { compileContext, sinkCache } from "@lcc/compiler";
import type { LanguageModel, LoadedModel, TextTokenizer } from "@lcc/models";
import { InvalidArgumentError } from "@lcc/tensor";
import { BASELINES, type BaselineName, memoryPrefix } from "./baselines.js";
import type { QaRecord, StoryRecord } from "./data.js";
import { type FidelitySummary, type StoryFidelity, evaluateStory, summarise } from "./fidelity.js";
import type { ChatJudge } from "./judge.js";
import { DEFAULT_QA_PROMPT, type QaAnswer, generateAnswer, questionPrompt, toQaAnswer } from "./qa.js";

/** Progress of a suite; `index` counts records from 0 within one ratio's pass. */
export type EvaluationProgress =
  | { readonly type: "record"; readonly ratio: number; readonly index: number; readonly total: number; readonly id: string }
  | {
      readonly type: "compile";
      readonly ratio: number;
      readonly index: number;
      readonly total: number;
      readonly id: string;
      /** The memory variant being compiled. */
      readonly label: string;
      readonly event: CompileProgress;
    }
  | {
      readonly type: "record-done";
      readonly ratio: number;
      readonly index: number;
      readonly total: number;
      readonly id: string;
      readonly seconds: number;
    }
  | { readonly type: "skipped"; readonly id: string; readonly line: number; readonly reason: string };

export interface SkippedRecord {
  readonly id: string;
  readonly line: number;
  readonly reason: string;
}

/** Mean values by metric, then by prefix, one entry per ratio (null where nothing was scored). */
export interface SummaryCurves {
  readonly ratios: readonly number[];
  readonly metrics: Readonly<Record<string, Readonly<Record<string, readonly (number | null)[]>>>>;
}

interface SuiteCommon {
  readonly model: LoadedModel;
  /** The frozen base model that reads memories, contexts and baselines. */
  readonly reader: LanguageModel;
  readonly tokenizer: TextTokenizer;
  readonly ratios: readonly number[];
  /** Memory variants by label, e.g. { "memory (KL reconstruction)": { reconstructionLoss: "kl" } }. */
  readonly variants: Readonly<Record<string, Partial<CompileOptions>>>;
  /** Query pool entries as token ids without BOS. */
  readonly queryPool: readonly (readonly number[])[];
  /** Evaluate at most this many usable records, in file order. Default: all. */
  readonly maxRecords?: number;
  readonly onProgress?: (event: EvaluationProgress) => void;
  readonly signal?: AbortSignal;
}

function validateCommon(request: SuiteCommon): void {
  const problems: string[] = [];
  if (!Array.isArray(request.ratios) || request.ratios.length === 0) problems.push("ratios must be a non-empty array");
  for (const ratio of request.ratios ?? []) {
    if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio < 1)
      problems.push(`every ratio must be a number ≥ 1, got ${String(ratio)}`);
  }
  if (Object.keys(request.variants ?? {}).length === 0) problems.push("at least one memory variant is required");
  if (request.maxRecords !== undefined && (!Number.isInteger(request.maxRecords) || request.maxRecords < 1)) {
    problems.push(`maxRecords must be an integer ≥ 1, got ${String(request.maxRecords)}`);
  }
  if (problems.length > 0) throw new InvalidArgumentError(`invalid evaluation request: ${problems.join("; ")}`);
}

// ---------------------------------------------------------------- stories

export interface FidelitySuiteRequest extends SuiteCommon {
  readonly stories: readonly StoryRecord[];
  /** Default: every baseline. */
  readonly baselines?: readonly BaselineName[];
}

export interface RatioFidelity {
  readonly ratio: number;
  readonly stories: readonly (StoryFidelity & { readonly line: number })[];
  readonly summary: FidelitySummary;
}

export interface FidelitySuiteResult {
  /** Prefix labels in table order: memory variants, budget baselines, no context, full context. */
  readonly prefixes: readonly string[];
  readonly ratios: readonly RatioFidelity[];
  readonly skipped: readonly SkippedRecord[];
  /** Metrics gapClosed, perplexity and reconstructionAccuracy by prefix against ratio. */
  readonly summary: SummaryCurves;
}

/** Table order of prefixes: memory variants, then baselines, with no context and full context last. */
export function prefixOrder(variantLabels: readonly string[], baselines: readonly string[]): string[] {
  const budget = baselines.filter((name) => name !== "none" && name !== "full");
  const ends = (["none", "full"] as const).filter((name) => baselines.includes(name));
  return [...variantLabels, ...budget, ...ends];
}

/**
 * Compiles the first half of each story at each ratio and scores the memory and the
 * baselines on the second half. Stories that do not fit the model's window, or whose half
 * is shorter than the largest ratio, are skipped and listed.
 */
export async function runFidelitySuite(request: FidelitySuiteRequest): Promise<FidelitySuiteResult> {
  validateCommon(request);
  const baselines = request.baselines ?? BASELINES;
  const maxRatio = Math.max(...request.ratios);
  const minRatio = Math.min(...request.ratios);

  // Pick the usable stories in file order.
  const skipped: SkippedRecord[] = [];
  const chosen: { record: StoryRecord; ids: number[] }[] = [];
  const window = request.model.config.maxPositions;
  for (const record of request.stories) {
    if (request.maxRecords !== undefined && chosen.length >= request.maxRecords) break;
    const ids = request.tokenizer.encode(record.text, { addBos: true });
    const contextTokens = Math.floor(ids.length / 2) - 1;
    // The memory reader continues after K buffer positions, so it needs K - 1 more positions than the full context.
    const positionsNeeded = ids.length - 1 + Math.ceil(contextTokens / minRatio);
    let reason: string | null = null;
    if (contextTokens < maxRatio) reason = `its first half has ${contextTokens} tokens, fewer than the ratio ${maxRatio}`;
    else if (positionsNeeded > window) {
      reason = `the story has ${ids.length} tokens and reading it after a memory at ratio ${minRatio} needs ${positionsNeeded} positions, more than the model's window of ${window}`;
    }
    if (reason !== null) {
      skipped.push({ id: record.id, line: record.line, reason });
      request.onProgress?.({ type: "skipped", id: record.id, line: record.line, reason });
      continue;
    }
    chosen.push({ record, ids });
  }
  if (chosen.length === 0)
    throw new InvalidArgumentError(
      `none of the ${request.stories.length} stories can be evaluated: ${skipped[0]?.reason ?? "no stories given"}`,
    );

  // Every story at every ratio.
  const ratios: RatioFidelity[] = [];
  for (const ratio of request.ratios) {
    const stories: (StoryFidelity & { line: number })[] = [];
    for (const [index, { record, ids }] of chosen.entries()) {
      const started = performance.now();
      const position = { ratio, index, total: chosen.length, id: record.id };
      request.onProgress?.({ type: "record", ...position });
      const result = await evaluateStory(request.model, request.reader, {
        id: record.id,
        ids,
        queryPool: request.queryPool,
        variants: request.variants,
        ratio,
        baselines,
        onProgress: (label, event) => request.onProgress?.({ type: "compile", ...position, label, event }),
        signal: request.signal,
      });
      stories.push({ ...result, line: record.line });
      request.onProgress?.({ type: "record-done", ...position, seconds: (performance.now() - started) / 1000 });
    }
    ratios.push({ ratio, stories, summary: summarise(stories) });
  }

  const prefixes = prefixOrder(Object.keys(request.variants), baselines);
  const curve = (pick: (score: FidelitySummary["mean"][string]) => number) =>
    Object.fromEntries(prefixes.map((prefix) => [prefix, ratios.map((entry) => finiteOrNull(entry.summary.mean[prefix], pick))]));
  const summary: SummaryCurves = {
    ratios: request.ratios,
    metrics: {
      gapClosed: curve((score) => score.gapClosed),
      perplexity: curve((score) => score.perplexity),
      reconstructionAccuracy: curve((score) => score.reconstructionAccuracy),
    },
  };
  return { prefixes, ratios, skipped, summary };
}

function finiteOrNull<T>(value: T | undefined, pick: (value: T) => number): number | null {
  if (value === undefined) return null;
  const number = pick(value);
  return Number.isFinite(number) ? number : null;
}

// ---------------------------------------------------------------- questions

export interface QaSuiteRequest extends SuiteCommon {
  readonly records: readonly QaRecord[];
  /** Text after the context; "{question}" is replaced by the question. Default DEFAULT_QA_PROMPT. */
  readonly promptTemplate?: string;
  /** Maximum tokens of each answer. Example: 32. */
  readonly maxAnswerTokens: number;
  /** Grades every answer too when given. */
  readonly judge?: ChatJudge;
}

export interface QaRecordResult {
  readonly id: string;
  readonly line: number;
  readonly question: string;
  readonly goldAnswers: readonly string[];
  readonly contextTokens: number;
  readonly bufferTokens: number;
  readonly compileSeconds: Readonly<Record<string, number>>;
  /** Answers by prefix (memory variants, "none", "full"); null when the prompt did not fit the window. */
  readonly predictions: Readonly<Record<string, QaAnswer | null>>;
}

export interface QaPrefixSummary {
  readonly exactMatch: number;
  readonly f1: number;
  /** Share of answers the judge graded CORRECT among those it graded; null without a judge. */
  readonly judgeAccuracy: number | null;
  /** Records with an answer (the prompt fit the window). */
  readonly answered: number;
}

export interface RatioQa {
  readonly ratio: number;
  readonly records: readonly QaRecordResult[];
  readonly summary: Readonly<Record<string, QaPrefixSummary>>;
}

export interface QaSuiteResult {
  readonly prefixes: readonly string[];
  readonly ratios: readonly RatioQa[];
  readonly skipped: readonly SkippedRecord[];
  /** Metrics exactMatch, f1 and judgeAccuracy by prefix against ratio. */
  readonly summary: SummaryCurves;
}

/**
 * Compiles each record's context at each ratio, then answers its question from the memory,
 * from the full context and from nothing (the last two once per record), and scores them.
 */
export async function runQaSuite(request: QaSuiteRequest): Promise<QaSuiteResult> {
  validateCommon(request);
  if (!Number.isInteger(request.maxAnswerTokens) || request.maxAnswerTokens < 1) {
    throw new InvalidArgumentError(`maxAnswerTokens must be an integer ≥ 1, got ${String(request.maxAnswerTokens)}`);
  }
  const template = request.promptTemplate ?? DEFAULT_QA_PROMPT;
  const maxRatio = Math.max(...request.ratios);
  const { reader, tokenizer } = request;
  const bos = request.model.config.bosTokenId;

  // Tokenise the usable records in file order.
  const skipped: SkippedRecord[] = [];
  const chosen: { record: QaRecord; contextIds: number[]; promptIds: number[] }[] = [];
  for (const record of request.records) {
    if (request.maxRecords !== undefined && chosen.length >= request.maxRecords) break;
    const contextIds = tokenizer.encode(record.context, { addBos: false });
    if (contextIds.length < maxRatio) {
      const reason = `its context has ${contextIds.length} tokens, fewer than the ratio ${maxRatio}`;
      skipped.push({ id: record.id, line: record.line, reason });
      request.onProgress?.({ type: "skipped", id: record.id, line: record.line, reason });
      continue;
    }
    chosen.push({ record, contextIds, promptIds: tokenizer.encode(questionPrompt(template, record.question), { addBos: false }) });
  }
  if (chosen.length === 0)
    throw new InvalidArgumentError(
      `none of the ${request.records.length} questions can be evaluated: ${skipped[0]?.reason ?? "no questions given"}`,
    );

  const answer = async (generated: { text: string; tokens: number } | null, record: QaRecord): Promise<QaAnswer | null> => {
    const scored = toQaAnswer(generated, record.answers);
    if (scored === null || request.judge === undefined) return scored;
    return { ...scored, judge: await request.judge.judge({ question: record.question, answers: record.answers, prediction: scored.text }) };
  };

  // Answers without a memory do not depend on the ratio: one pass per record.
  const sink = await sinkCache(reader);
  const reference = new Map<string, { full: QaAnswer | null; none: QaAnswer | null }>();
  const ratios: RatioQa[] = [];
  for (const ratio of request.ratios) {
    const records: QaRecordResult[] = [];
    for (const [index, { record, contextIds, promptIds }] of chosen.entries()) {
      const started = performance.now();
      const position = { ratio, index, total: chosen.length, id: record.id };
      request.onProgress?.({ type: "record", ...position });

      let baseline = reference.get(record.id);
      if (baseline === undefined) {
        const full = await generateAnswer(reader, tokenizer, null, [bos, ...contextIds, ...promptIds], request.maxAnswerTokens);
        const none = await generateAnswer(reader, tokenizer, null, [bos, ...promptIds], request.maxAnswerTokens);
        baseline = { full: await answer(full, record), none: await answer(none, record) };
        reference.set(record.id, baseline);
      }

      const predictions: Record<string, QaAnswer | null> = {};
      const compileSeconds: Record<string, number> = {};
      let bufferTokens = 0;
      for (const [label, options] of Object.entries(request.variants)) {
        const compiled = await compileContext({
          model: request.model,
          contextIds,
          queryPool: request.queryPool,
          options: { ...options, ratio },
          onProgress: (event) => request.onProgress?.({ type: "compile", ...position, label, event }),
          signal: request.signal,
        });
        compileSeconds[label] = compiled.wallSeconds;
        bufferTokens = compiled.bufferTokens;
        const prefix = memoryPrefix(sink, compiled.layers, compiled.positions);
        predictions[label] = await answer(await generateAnswer(reader, tokenizer, prefix, promptIds, request.maxAnswerTokens), record);
      }
      predictions.none = baseline.none;
      predictions.full = baseline.full;

      records.push({
        id: record.id,
        line: record.line,
        question: record.question,
        goldAnswers: record.answers,
        contextTokens: contextIds.length,
        bufferTokens,
        compileSeconds,
        predictions,
      });
      request.onProgress?.({ type: "record-done", ...position, seconds: (performance.now() - started) / 1000 });
    }
    ratios.push({ ratio, records, summary: summariseQa(records) });
  }

  const prefixes = [...Object.keys(request.variants), "none", "full"];
  const curve = (pick: (summary: QaPrefixSummary) => number | null) =>
    Object.fromEntries(
      prefixes.map((prefix) => [prefix, ratios.map((entry) => (entry.summary[prefix] === undefined ? null : pick(entry.summary[prefix])))]),
    );
  const summary: SummaryCurves = {
    ratios: request.ratios,
    metrics: {
      exactMatch: curve((score) => (score.answered > 0 ? score.exactMatch : null)),
      f1: curve((score) => (score.answered > 0 ? score.f1 : null)),
      judgeAccuracy: curve((score) => score.judgeAccuracy),
    },
  };
  return { prefixes, ratios, skipped, summary };
}

/** Mean exact match, F1 and judge accuracy by prefix over the records that have an answer. */
export function summariseQa(records: readonly QaRecordResult[]): Record<string, QaPrefixSummary> {
  const labels = Object.keys(records[0]?.predictions ?? {});
  const summary: Record<string, QaPrefixSummary> = {};
  for (const label of labels) {
    const answers = records
      .map((record) => record.predictions[label])
      .filter((entry): entry is QaAnswer => entry !== null && entry !== undefined);
    const judged = answers.filter((entry) => entry.judge !== undefined && entry.judge.correct !== null);
    const mean = (values: number[]) => (values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length);
    summary[label] = {
      exactMatch: mean(answers.map((entry) => entry.exactMatch)),
      f1: mean(answers.map((entry) => entry.f1)),
      judgeAccuracy: judged.length === 0 ? null : mean(judged.map((entry) => (entry.judge?.correct === true ? 1 : 0))),
      answered: answers.length,
    };
  }
  return summary;
}
