/**
 * The body of POST /v1/memories/compile: `{ "text": "...", "options": { ... } }`, with the
 * compile options in snake_case. Everything that can be checked before the job runs is
 * checked here, and every problem is reported at once.
 */

import { STORAGE_DTYPES, type StorageDType } from "@lcc/artifact";
import { type CompileOptions, getQueryPool, hasQueryPool, listQueryPools, resolveCompileOptions } from "@lcc/compiler";
import type { TextTokenizer } from "@lcc/models";
import { InvalidArgumentError, LccError } from "@lcc/tensor";
import { ApiError } from "../api-error.js";
import type { ServerLimits } from "../options.js";

/** A compile request after validation, ready to run. */
export interface CompileSubmission {
  readonly text: string;
  /** The text's token ids, without BOS. */
  readonly contextIds: readonly number[];
  readonly queryPoolName: string;
  /** Query pool entries as token ids, without BOS. */
  readonly queryPool: readonly (readonly number[])[];
  readonly options: CompileOptions;
  /** Storage dtype of the memory file's keys and values. */
  readonly dtype: StorageDType;
  /** Whether the memory file stores the text itself (otherwise only its sha256). */
  readonly includeSource: boolean;
}

/** API option names and the compiler's names. */
const OPTION_NAMES: Readonly<Record<string, keyof CompileOptions>> = Object.freeze({
  ratio: "ratio",
  steps: "steps",
  learning_rate: "learningRate",
  schedule: "schedule",
  warmup_steps: "warmupSteps",
  clip_norm: "clipNorm",
  weight_decay: "weightDecay",
  seed: "seed",
  lora_rank: "loraRank",
  lora_alpha: "loraAlpha",
  lora_targets: "loraTargets",
  buffer_init: "bufferInit",
  train_buffer: "trainBuffer",
  reconstruction_loss: "reconstructionLoss",
  regularisation_loss: "regularisationLoss",
  queries: "queries",
  answer_tokens: "answerTokens",
  segment_tokens: "segmentTokens",
  held_out_queries: "heldOutQueries",
  early_stop_patience: "earlyStopPatience",
  evaluate_every: "evaluateEvery",
  max_seconds: "maxSeconds",
});

/** Options of the memory file rather than of the compiler. */
const FILE_OPTION_NAMES = Object.freeze(["query_pool", "dtype", "include_source"]);

const DEFAULT_QUERY_POOL = "story-openings";
const DEFAULT_DTYPE: StorageDType = "float16";

/** Rewrites the compiler's option names at the start of its messages to the API's names. */
function apiNames(message: string): string {
  for (const [apiName, compilerName] of Object.entries(OPTION_NAMES)) {
    if (message.startsWith(`${compilerName} `)) return `options.${apiName}${message.slice(compilerName.length)}`;
  }
  return message;
}

export interface CompileRequestContext {
  readonly tokenizer: TextTokenizer;
  readonly limits: ServerLimits;
  /** onnxruntime intra-op threads of the compile sessions; 0 lets onnxruntime choose. */
  readonly threads: number;
}

export async function parseCompileRequest(body: unknown, context: CompileRequestContext): Promise<CompileSubmission> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError('the request body must be a JSON object { "text": "...", "options": { ... } }', {
      status: 400,
      type: "invalid_request_error",
      code: "invalid_request",
    });
  }
  const record = body as { text?: unknown; options?: unknown };
  const problems: { param: string; message: string }[] = [];
  const problem = (param: string, message: string) => problems.push({ param, message });
  const { limits } = context;

  // The text and its tokens.
  let contextIds: number[] = [];
  if (typeof record.text !== "string" || record.text.trim() === "") {
    problem("text", "text must be a non-empty string: the context to compile");
  } else {
    contextIds = context.tokenizer.encode(record.text, { addBos: false });
    if (contextIds.length > limits.maxCompileTokens) {
      problem(
        "text",
        `text has ${contextIds.length} tokens but this server compiles at most ${limits.maxCompileTokens}; split the text into several memories`,
      );
    }
  }

  // Options: known names only, mapped to the compiler's.
  const given = record.options ?? {};
  const overrides: Record<string, unknown> = {};
  let queryPoolName = DEFAULT_QUERY_POOL;
  let dtype = DEFAULT_DTYPE;
  let includeSource = false;
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    problem("options", "options must be an object of compile options");
  } else {
    for (const [name, value] of Object.entries(given)) {
      if (value === undefined || value === null) continue;
      const compilerName = OPTION_NAMES[name];
      if (compilerName !== undefined) overrides[compilerName] = value;
      else if (!FILE_OPTION_NAMES.includes(name)) {
        problem(
          `options.${name}`,
          `unknown compile option ${JSON.stringify(name)}; known options are ${[...Object.keys(OPTION_NAMES), ...FILE_OPTION_NAMES].join(", ")}`,
        );
      }
    }
    const options = given as { query_pool?: unknown; dtype?: unknown; include_source?: unknown };
    if (options.query_pool !== undefined && options.query_pool !== null) {
      if (typeof options.query_pool !== "string" || !hasQueryPool(options.query_pool)) {
        problem(
          "options.query_pool",
          `options.query_pool must be one of ${listQueryPools().join(", ")}, got ${JSON.stringify(options.query_pool)}`,
        );
      } else queryPoolName = options.query_pool;
    }
    if (options.dtype !== undefined && options.dtype !== null) {
      if (!(STORAGE_DTYPES as readonly unknown[]).includes(options.dtype))
        problem("options.dtype", `options.dtype must be one of ${STORAGE_DTYPES.join(", ")}, got ${JSON.stringify(options.dtype)}`);
      else dtype = options.dtype as StorageDType;
    }
    if (options.include_source !== undefined && options.include_source !== null) {
      if (typeof options.include_source !== "boolean") problem("options.include_source", "options.include_source must be true or false");
      else includeSource = options.include_source;
    }
  }

  // The server's time budget: max_seconds may lower it, not raise it; 0 or none means the budget.
  const maxSeconds = overrides.maxSeconds;
  if (typeof maxSeconds === "number" && maxSeconds > limits.maxCompileSeconds) {
    problem(
      "options.max_seconds",
      `options.max_seconds is ${maxSeconds} but this server allows at most ${limits.maxCompileSeconds} seconds per segment`,
    );
  }
  if (maxSeconds === undefined || maxSeconds === 0) overrides.maxSeconds = limits.maxCompileSeconds;
  overrides.threads = context.threads;

  // The compiler's own checks of the options.
  let options: CompileOptions | null = null;
  try {
    options = resolveCompileOptions(overrides as Partial<CompileOptions>);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    const listed = (error.details.problems as string[] | undefined) ?? [error.message];
    for (const message of listed) problem("options", apiNames(message));
  }

  // Checks that need the options: the text against the ratio, the pool against the query count.
  let queryPool: number[][] = [];
  if (options !== null) {
    if (contextIds.length > 0 && contextIds.length < options.ratio) {
      problem(
        "text",
        `text has ${contextIds.length} tokens, fewer than the compression ratio ${options.ratio}; send a longer text or a lower options.ratio`,
      );
    }
    const entries = await getQueryPool(queryPoolName).catch((error: unknown) => {
      problem("options.query_pool", LccError.isInstance(error) ? error.message : `query pool ${queryPoolName} could not be loaded`);
      return [] as readonly string[];
    });
    queryPool = entries.map((entry) => context.tokenizer.encode(entry, { addBos: false }));
    const needed = options.queries > 0 ? options.queries + options.heldOutQueries : 0;
    if (entries.length > 0 && queryPool.length < needed) {
      problem(
        "options.queries",
        `the query pool ${queryPoolName} has ${queryPool.length} entries but options.queries + options.held_out_queries is ${needed}; ask for fewer queries`,
      );
    }
  }

  if (problems.length > 0 || options === null) {
    const first = problems[0] ?? { param: "options", message: "invalid compile options" };
    const message =
      problems.length === 1 ? first.message : `invalid compile request:\n  - ${problems.map((entry) => entry.message).join("\n  - ")}`;
    throw new ApiError(message, { status: 400, type: "invalid_request_error", code: "invalid_value", param: first.param });
  }
  return { text: record.text as string, contextIds, queryPoolName, queryPool, options, dtype, includeSource };
}
