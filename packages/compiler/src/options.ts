/**
 * Compile options: defaults, and validation that reports every problem at once.
 */

import { InvalidArgumentError } from "@lcc/tensor";
import type { LoraTarget } from "./lora.js";
import type { ScheduleName } from "./optimizer.js";

export type BufferInit = "mean" | "shared" | { readonly token: number };

export interface CompileOptions {
  /** Context tokens per buffer token: K = ceil(context tokens / ratio). Example: 16. */
  readonly ratio: number;
  /** Optimisation steps. Example: 100. */
  readonly steps: number;
  readonly learningRate: number; // 1e-2
  readonly schedule: ScheduleName;
  readonly warmupSteps: number; // 0
  /** Clip the global gradient norm to this value; 0 disables clipping. */
  readonly clipNorm: number; // 1.0
  readonly weightDecay: number; // 0
  readonly seed: number;
  readonly loraRank: number; // 8
  readonly loraAlpha: number; // 16
  readonly loraTargets: readonly LoraTarget[]; // ["q", "k", "v", "o"]
  /** Buffer embedding initialisation: mean of the covered context embeddings, a shared vector, or a token's embedding. */
  readonly bufferInit: BufferInit;
  /** Train the buffer embeddings (false freezes them, an ablation). */
  readonly trainBuffer: boolean;
  /** Keep the LoRA on when reading the memory during training (an ablation; gradient isolation turns it off). */
  readonly loraAtReadTime: boolean;
  /** Loss of the reconstruction sample: "kl" against the full-context teacher, or "ce" on the gold context tokens. */
  readonly reconstructionLoss: string;
  /** Loss of the regularisation samples. */
  readonly regularisationLoss: string;
  readonly reconstructionWeight: number; // 1
  readonly regularisationWeight: number; // 1
  /** Regularisation queries drawn from the pool; 0 disables regularisation (an ablation). */
  readonly queries: number; // 64
  /** Tokens of each query's teacher answer. */
  readonly answerTokens: number; // 24
  /** Sampling temperature of the teacher's answers; 0 answers greedily. Example: 1. */
  readonly answerTemperature: number; // 0
  /** Tokens kept from each pool entry as the query. */
  readonly queryTokens: number; // 8
  /** Teacher distributions keep the top k entries; full distributions when the vocabulary has at most `fullVocabularyLimit` entries. */
  readonly teacherTopK: number; // 32
  readonly fullVocabularyLimit: number; // 4096
  /** Contexts longer than this many tokens are split into segments compiled one by one. */
  readonly segmentTokens: number; // 2048
  /** Held-out queries for early stopping; 0 disables early stopping. */
  readonly heldOutQueries: number; // 0
  /** Stop when the held-out KL has not improved for this many evaluations. */
  readonly earlyStopPatience: number; // 5
  /** Evaluate the held-out KL every this many steps. */
  readonly evaluateEvery: number; // 10
  /** Stop optimising after this many seconds (the memory of the last step is kept); 0 means no limit. */
  readonly maxSeconds: number;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. */
  readonly threads: number;
}

export const DEFAULT_COMPILE_OPTIONS: CompileOptions = Object.freeze({
  ratio: 16,
  steps: 100,
  learningRate: 1e-2,
  schedule: "constant",
  warmupSteps: 0,
  clipNorm: 1,
  weightDecay: 0,
  seed: 0,
  loraRank: 8,
  loraAlpha: 16,
  loraTargets: Object.freeze(["q", "k", "v", "o"]) as readonly LoraTarget[],
  bufferInit: "mean",
  trainBuffer: true,
  loraAtReadTime: false,
  reconstructionLoss: "kl",
  regularisationLoss: "kl",
  reconstructionWeight: 1,
  regularisationWeight: 1,
  queries: 64,
  answerTokens: 24,
  answerTemperature: 0,
  queryTokens: 8,
  teacherTopK: 32,
  fullVocabularyLimit: 4096,
  segmentTokens: 2048,
  heldOutQueries: 0,
  earlyStopPatience: 5,
  evaluateEvery: 10,
  maxSeconds: 0,
  threads: 0,
});

const LORA_TARGETS: readonly LoraTarget[] = ["q", "k", "v", "o", "gate", "up", "down"];

/** Merges `overrides` into the defaults and validates the result. */
export function resolveCompileOptions(overrides: Partial<CompileOptions> = {}): CompileOptions {
  const options = { ...DEFAULT_COMPILE_OPTIONS, ...overrides };
  const problems: string[] = [];
  const positiveNumber = (name: keyof CompileOptions, value: number) => {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) problems.push(`${name} must be a number > 0, got ${String(value)}`);
  };
  const integer = (name: keyof CompileOptions, value: number, min: number) => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min) problems.push(`${name} must be an integer ≥ ${min}, got ${String(value)}`);
  };
  const nonNegative = (name: keyof CompileOptions, value: number) => {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) problems.push(`${name} must be a number ≥ 0, got ${String(value)}`);
  };

  if (typeof options.ratio !== "number" || !Number.isFinite(options.ratio) || options.ratio < 1) {
    problems.push(`ratio must be a number ≥ 1, got ${String(options.ratio)}`);
  }
  positiveNumber("learningRate", options.learningRate);
  integer("steps", options.steps, 0);
  integer("warmupSteps", options.warmupSteps, 0);
  nonNegative("clipNorm", options.clipNorm);
  nonNegative("weightDecay", options.weightDecay);
  integer("seed", options.seed, 0);
  integer("loraRank", options.loraRank, 1);
  positiveNumber("loraAlpha", options.loraAlpha);
  integer("queries", options.queries, 0);
  integer("answerTokens", options.answerTokens, 1);
  nonNegative("answerTemperature", options.answerTemperature);
  integer("queryTokens", options.queryTokens, 1);
  integer("teacherTopK", options.teacherTopK, 1);
  integer("fullVocabularyLimit", options.fullVocabularyLimit, 0);
  integer("segmentTokens", options.segmentTokens, 2);
  integer("heldOutQueries", options.heldOutQueries, 0);
  integer("earlyStopPatience", options.earlyStopPatience, 1);
  integer("evaluateEvery", options.evaluateEvery, 1);
  nonNegative("maxSeconds", options.maxSeconds);
  integer("threads", options.threads, 0);
  nonNegative("reconstructionWeight", options.reconstructionWeight);
  nonNegative("regularisationWeight", options.regularisationWeight);
  if (options.schedule !== "constant" && options.schedule !== "cosine") problems.push(`schedule must be "constant" or "cosine", got ${String(options.schedule)}`);
  if (!Array.isArray(options.loraTargets) || options.loraTargets.length === 0 || options.loraTargets.some((t) => !LORA_TARGETS.includes(t))) {
    problems.push(`loraTargets must be a non-empty list of ${LORA_TARGETS.join(", ")}, got ${JSON.stringify(options.loraTargets)}`);
  } else {
    const repeated = options.loraTargets.filter((t, i) => options.loraTargets.indexOf(t) !== i);
    if (repeated.length > 0) problems.push(`loraTargets lists ${[...new Set(repeated)].join(", ")} more than once; give each projection once`);
  }
  const init = options.bufferInit;
  if (init !== "mean" && init !== "shared" && !(typeof init === "object" && init !== null && Number.isInteger(init.token) && init.token >= 0)) {
    problems.push(`bufferInit must be "mean", "shared" or { token: id }, got ${JSON.stringify(init)}`);
  }
  if (problems.length > 0) throw new InvalidArgumentError(`invalid compile options:\n  - ${problems.join("\n  - ")}`, { details: { problems } });
  return Object.freeze(options);
}
