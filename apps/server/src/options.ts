/**
 * Options of the HTTP server and its limits, with defaults and validation that reports
 * every problem at once.
 */

import type { EngineModel } from "@lcc/serving";
import { InvalidArgumentError, type SessionOptions } from "@lcc/tensor";

/** pino's levels, from most to least verbose, and "silent". */
export const LOG_LEVELS = Object.freeze(["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const);
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServerLimits {
  /** Largest JSON request body in bytes. Example: 1_048_576 (1 MiB). */
  readonly bodyLimitBytes: number;
  /** Largest memory file a POST /v1/memories may upload, in bytes. Example: 268_435_456 (256 MiB). */
  readonly memoryUploadLimitBytes: number;
  /**
   * Uploads (POST /v1/memories) received or processed at once; one more gets status 429.
   * Each buffers up to memoryUploadLimitBytes, and more while its memory is decoded. Example: 2.
   */
  readonly maxConcurrentUploads: number;
  /** Largest max_tokens a chat completion may request, and the default when it sets none. Example: 512. */
  readonly maxTokens: number;
  /** Milliseconds a chat completion may take from arrival to its last token, queue wait included. Example: 120_000. */
  readonly requestTimeoutMs: number;
  /** Chat completions that run at once. Example: 4. */
  readonly maxConcurrent: number;
  /** Chat completions that may wait for a free slot; one more gets status 429. Example: 32. */
  readonly maxQueued: number;
  /** Bytes of decoded memories the engine keeps in memory; others are read again from --memory-dir. Example: 1 GiB. */
  readonly maxMemoryBytes: number;
  /** Compile jobs queued or running; one more gets status 429. Jobs run one at a time. Example: 8. */
  readonly maxCompileJobs: number;
  /** Context tokens one compile job may compile. Example: 8192. */
  readonly maxCompileTokens: number;
  /** Seconds of optimisation per segment a compile job may take (the compile option max_seconds). Example: 600. */
  readonly maxCompileSeconds: number;
  /** Finished compile jobs kept for polling; the oldest are forgotten first. Example: 100. */
  readonly keptCompileJobs: number;
}

export const DEFAULT_LIMITS: ServerLimits = Object.freeze({
  bodyLimitBytes: 1 << 20,
  memoryUploadLimitBytes: 256 << 20,
  maxConcurrentUploads: 2,
  maxTokens: 512,
  requestTimeoutMs: 120_000,
  maxConcurrent: 4,
  maxQueued: 32,
  maxMemoryBytes: 1 << 30,
  maxCompileJobs: 8,
  maxCompileTokens: 8192,
  maxCompileSeconds: 600,
  keptCompileJobs: 100,
});

/** A destination of log lines, e.g. process.stderr or a test's collector. */
export interface LogStream {
  write(line: string): unknown;
}

export interface ServerOptions {
  /** The base model: a path, a name inside `modelsDir`, or a model and tokenizer loadModel returned. */
  readonly model: string | EngineModel;
  /** Folder searched for bare model names. Default: $LCC_MODELS. */
  readonly modelsDir?: string;
  /** Id of the model in /v1/models and in requests. Default: the model's name, e.g. "stories260K". */
  readonly modelId?: string;
  /** Address to listen on. Default "127.0.0.1" (loopback only). */
  readonly host?: string;
  /** Port to listen on; 0 picks a free port. Default 8080. */
  readonly port?: number;
  /**
   * Folder where memories are stored as `<id>.lccm`, written atomically and loaded again
   * at start. Default: none, so memories live only as long as the process.
   */
  readonly memoryDir?: string;
  /** When set, every endpoint but /health requires `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  readonly limits?: Partial<ServerLimits>;
  /** onnxruntime options of the model's sessions, used for serving and compiling. */
  readonly sessionOptions?: SessionOptions;
  /** Level of the JSON log lines. Default "info". */
  readonly logLevel?: LogLevel;
  /** Destination of the log lines. Default: process.stderr. */
  readonly logStream?: LogStream;
}

export interface ResolvedServerOptions extends Omit<ServerOptions, "limits" | "host" | "port" | "logLevel"> {
  readonly host: string;
  readonly port: number;
  readonly logLevel: LogLevel;
  readonly limits: ServerLimits;
}

/** Merges the defaults into `options` and throws InvalidArgumentError listing every invalid field. */
export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  if (typeof options !== "object" || options === null)
    throw new InvalidArgumentError(`server options must be an object, got ${String(options)}`);
  const limits: ServerLimits = Object.freeze({ ...DEFAULT_LIMITS, ...definedFields(options.limits ?? {}) });
  const resolved: ResolvedServerOptions = {
    ...options,
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 8080,
    logLevel: options.logLevel ?? "info",
    limits,
  };
  const problems: string[] = [];

  if (typeof resolved.model !== "string" && (typeof resolved.model !== "object" || resolved.model === null)) {
    problems.push("model must be a path, a model name or the result of loadModel");
  }
  if (typeof resolved.model === "string" && resolved.model.trim() === "") problems.push("model must not be empty");
  if (typeof resolved.host !== "string" || resolved.host.trim() === "")
    problems.push(`host must be a non-empty string, got ${JSON.stringify(resolved.host)}`);
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65535)
    problems.push(`port must be an integer from 0 to 65535, got ${String(resolved.port)}`);
  if (resolved.apiKey !== undefined && (typeof resolved.apiKey !== "string" || resolved.apiKey.length === 0))
    problems.push("apiKey must be a non-empty string when given");
  if (resolved.modelId !== undefined && (typeof resolved.modelId !== "string" || resolved.modelId.length === 0))
    problems.push("modelId must be a non-empty string when given");
  if (resolved.memoryDir !== undefined && (typeof resolved.memoryDir !== "string" || resolved.memoryDir.length === 0)) {
    problems.push("memoryDir must be a non-empty path when given");
  }
  if (!(LOG_LEVELS as readonly string[]).includes(resolved.logLevel))
    problems.push(`logLevel must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(resolved.logLevel)}`);

  for (const [name, value] of Object.entries(limits)) {
    const minimum = name === "maxQueued" ? 0 : 1;
    if (!Number.isSafeInteger(value) || (value as number) < minimum)
      problems.push(`limits.${name} must be an integer ≥ ${minimum}, got ${String(value)}`);
  }
  const unknownLimits = Object.keys(options.limits ?? {}).filter((name) => !(name in DEFAULT_LIMITS));
  if (unknownLimits.length > 0)
    problems.push(`unknown limits ${unknownLimits.join(", ")}; known limits are ${Object.keys(DEFAULT_LIMITS).join(", ")}`);

  if (problems.length > 0)
    throw new InvalidArgumentError(`invalid server options:\n  - ${problems.join("\n  - ")}`, { details: { problems } });
  return resolved;
}

function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}
