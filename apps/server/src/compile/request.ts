/**
 * The body of POST /v1/memories/compile: `{ "text": "...", "options": { ... } }`, with the
 * compile options in snake_case. Everything that can be checked before the job runs is
 * checked here, and every problem is reported at once.
 */

import { STORAGE_DTYPES, type StorageDType } from "@lcc/artifact";
import { type CompileOptions, getQueryPool, hasQueryPool, listQueryPools, resolveCompileOptions } from "@lcc/compiler";
import type { LlamaConfig, TextTokenizer } from "@lcc/models";
import { InvalidArgumentError, LccError } from "@lcc/tensor";
import { ApiError } from "../api-error.js";
import type { ServerLimits } from "../options.js";
import { WINDOW_OPTIONS, checkBufferInit, checkWindow } from "./model-checks.js";
import { FILE_OPTION_NAMES, OPTION_NAMES, knownOptionNames, toApiNames } from "./option-names.js";

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

const DEFAULT_QUERY_POOL = "story-openings";
const DEFAULT_DTYPE: StorageDType = "float16";

export interface CompileRequestContext {
  readonly tokenizer: TextTokenizer;
  /** The served model's configuration: its vocabulary and context window. */
  readonly config: LlamaConfig;
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
      const compilerName = OPTION_NAMES.get(name);
      if (compilerName !== undefined) overrides[compilerName] = value;
      else if (!FILE_OPTION_NAMES.includes(name)) {
        problem(`options.${name}`, `unknown compile option ${JSON.stringify(name)}; known options are ${knownOptionNames().join(", ")}`);
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

  // The compiler's own checks of the options. When some options are invalid, the others
  // are resolved again without them, so that the checks below still cover the others.
  let options: CompileOptions | null = null;
  let checkable: CompileOptions | null = null;
  const rejected = new Set<keyof CompileOptions>();
  try {
    options = resolveCompileOptions(overrides as Partial<CompileOptions>);
    checkable = options;
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    const listed = (error.details.problems as string[] | undefined) ?? [error.message];
    let attributed = true;
    for (const listedMessage of listed) {
      const { message, option } = toApiNames(listedMessage);
      const compilerName = option === null ? undefined : OPTION_NAMES.get(option);
      if (compilerName === undefined) attributed = false;
      else rejected.add(compilerName);
      problem(option === null ? "options" : `options.${option}`, message);
    }
    if (attributed) {
      const others = Object.fromEntries(Object.entries(overrides).filter(([name]) => !rejected.has(name as keyof CompileOptions)));
      try {
        checkable = resolveCompileOptions(others as Partial<CompileOptions>);
      } catch {
        checkable = null;
      }
    }
  }
  const valid = (...names: (keyof CompileOptions)[]) => names.every((name) => !rejected.has(name));

  // Checks that need the options: the text against the ratio and the model, the pool against
  // the query count. Each runs only when the options it reads are valid.
  let queryPool: number[][] = [];
  if (checkable !== null) {
    const found = [...checkBufferInit(checkable, context.config)];
    if (valid(...WINDOW_OPTIONS)) found.push(...checkWindow(contextIds.length, checkable, context.config));
    for (const entry of found) {
      if (!problems.some((known) => known.param === entry.param)) problem(entry.param, entry.message);
    }
    if (valid("ratio") && contextIds.length > 0 && contextIds.length < checkable.ratio) {
      problem(
        "text",
        `text has ${contextIds.length} tokens, fewer than the compression ratio ${checkable.ratio}; send a longer text or a lower options.ratio`,
      );
    }
    const entries = await getQueryPool(queryPoolName).catch((error: unknown) => {
      problem("options.query_pool", LccError.isInstance(error) ? error.message : `query pool ${queryPoolName} could not be loaded`);
      return [] as readonly string[];
    });
    queryPool = entries.map((entry) => context.tokenizer.encode(entry, { addBos: false }));
    const needed = checkable.queries > 0 ? checkable.queries + checkable.heldOutQueries : 0;
    if (valid("queries", "heldOutQueries") && entries.length > 0 && queryPool.length < needed) {
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
