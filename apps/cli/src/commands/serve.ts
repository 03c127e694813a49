/**
 * `lcc serve`: runs the HTTP server (OpenAI-compatible chat completions over memories and
 * the memories API) until SIGINT or SIGTERM. Logs go to stderr as JSON lines.
 */

import { DEFAULT_LIMITS, LOG_LEVELS, type LogLevel, type ServerLimits, startServer } from "@lcc/server";
import { type Command, Option } from "commander";
import { integerOption, UsageError } from "../options.js";

interface ServeOptions {
  model: string;
  host: string;
  port: number;
  memoryDir?: string;
  apiKeyEnv?: string;
  maxConcurrent: number;
  maxQueued: number;
  maxTokens: number;
  requestTimeout: number;
  bodyLimit: number;
  uploadLimit: number;
  maxUploads: number;
  memoryCacheBytes: number;
  maxCompileJobs: number;
  maxCompileTokens: number;
  maxCompileSeconds: number;
  threads: number;
  logLevel: LogLevel;
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description(
      "Serve a model over HTTP: OpenAI-compatible chat completions that read memories, and an API to upload, compile and manage memories.",
    )
    .requiredOption("-m, --model <path>", "model folder, llama2.c checkpoint, or a model name inside $LCC_MODELS (required)")
    .option("--host <address>", "address to listen on; the default accepts connections from this machine only", "127.0.0.1")
    .option("-p, --port <port>", "port to listen on; 0 picks a free port", integerOption("--port", 0, 65535), 8080)
    .option(
      "--memory-dir <dir>",
      "folder where memories are stored as <id>.lccm and loaded from at start (default: memories last only until exit)",
    )
    .option(
      "--api-key-env <name>",
      "name of an environment variable holding the API key that clients must send as 'Authorization: Bearer <key>'",
    )
    .option(
      "--max-concurrent <count>",
      "chat completions that run at once",
      integerOption("--max-concurrent", 1),
      DEFAULT_LIMITS.maxConcurrent,
    )
    .option(
      "--max-queued <count>",
      "chat completions that may wait for a slot; more get HTTP 429",
      integerOption("--max-queued", 0),
      DEFAULT_LIMITS.maxQueued,
    )
    .option(
      "--max-tokens <count>",
      "largest max_tokens a request may ask for, and the default",
      integerOption("--max-tokens", 1),
      DEFAULT_LIMITS.maxTokens,
    )
    .option(
      "--request-timeout <seconds>",
      "seconds a chat completion may take, queue wait included",
      integerOption("--request-timeout", 1),
      DEFAULT_LIMITS.requestTimeoutMs / 1000,
    )
    .option("--body-limit <bytes>", "largest JSON request body in bytes", integerOption("--body-limit", 1), DEFAULT_LIMITS.bodyLimitBytes)
    .option(
      "--upload-limit <bytes>",
      "largest memory file upload in bytes",
      integerOption("--upload-limit", 1),
      DEFAULT_LIMITS.memoryUploadLimitBytes,
    )
    .option(
      "--max-uploads <count>",
      "memory uploads received at once; more get HTTP 429",
      integerOption("--max-uploads", 1),
      DEFAULT_LIMITS.maxConcurrentUploads,
    )
    .option(
      "--memory-cache-bytes <bytes>",
      "bytes of decoded memories kept in memory",
      integerOption("--memory-cache-bytes", 1),
      DEFAULT_LIMITS.maxMemoryBytes,
    )
    .option(
      "--max-compile-jobs <count>",
      "compile jobs queued or running; more get HTTP 429",
      integerOption("--max-compile-jobs", 1),
      DEFAULT_LIMITS.maxCompileJobs,
    )
    .option(
      "--max-compile-tokens <count>",
      "context tokens one compile job may compile",
      integerOption("--max-compile-tokens", 1),
      DEFAULT_LIMITS.maxCompileTokens,
    )
    .option(
      "--max-compile-seconds <seconds>",
      "seconds of optimisation per segment a compile job may take",
      integerOption("--max-compile-seconds", 1),
      DEFAULT_LIMITS.maxCompileSeconds,
    )
    .option("--threads <count>", "onnxruntime intra-op threads; 0 lets onnxruntime choose", integerOption("--threads", 0, 1024), 0)
    .addOption(new Option("--log-level <level>", "level of the JSON log lines on stderr").choices([...LOG_LEVELS]).default("info"))
    .action(async (options: ServeOptions) => {
      await serve(options);
    });
}

function apiKeyFrom(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const value = process.env[name];
  if (value === undefined || value === "")
    throw new UsageError(`--api-key-env names ${name}, but that environment variable is not set or empty; export it with the key first`);
  return value;
}

async function serve(options: ServeOptions): Promise<void> {
  const limits: ServerLimits = {
    ...DEFAULT_LIMITS,
    maxConcurrent: options.maxConcurrent,
    maxQueued: options.maxQueued,
    maxTokens: options.maxTokens,
    requestTimeoutMs: options.requestTimeout * 1000,
    bodyLimitBytes: options.bodyLimit,
    memoryUploadLimitBytes: options.uploadLimit,
    maxConcurrentUploads: options.maxUploads,
    maxMemoryBytes: options.memoryCacheBytes,
    maxCompileJobs: options.maxCompileJobs,
    maxCompileTokens: options.maxCompileTokens,
    maxCompileSeconds: options.maxCompileSeconds,
  };
  const server = await startServer({
    model: options.model,
    host: options.host,
    port: options.port,
    memoryDir: options.memoryDir,
    apiKey: apiKeyFrom(options.apiKeyEnv),
    limits,
    sessionOptions: { threads: options.threads },
    logLevel: options.logLevel,
  });

  // Run until SIGINT or SIGTERM, then finish or cancel what is running and exit.
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  server.app.log.info({ signal }, "stopping the server");
  await server.close();
}
