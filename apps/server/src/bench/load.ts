/**
 * A bounded load run against a server on this machine: a fixed number of chat
 * completions sent by a fixed number of concurrent workers, with latency percentiles
 * and throughput. It only targets loopback addresses.
 */

import { InvalidArgumentError } from "@lcc/tensor";

export interface LoadOptions {
  /** Base URL of the server, e.g. "http://127.0.0.1:8080"; must be a loopback address. */
  readonly url: string;
  readonly apiKey?: string;
  readonly model: string;
  /** Total requests. Example: 200. */
  readonly requests: number;
  /** Requests in flight at once. Example: 16. */
  readonly concurrency: number;
  /** max_tokens of each request; every request generates exactly this many (ignore_eos). Example: 16. */
  readonly maxTokens: number;
  /** Prompts, used round-robin. */
  readonly prompts: readonly string[];
  readonly memories?: readonly string[];
  /** Stream the responses; latency is then measured to the end of the stream. */
  readonly stream?: boolean;
  /** Milliseconds before one request is abandoned and counted as an error. Example: 120_000. */
  readonly requestTimeoutMs?: number;
}

export interface LoadFailure {
  readonly index: number;
  /** HTTP status, or 0 when no response arrived. */
  readonly status: number;
  readonly message: string;
}

export interface LoadResult {
  readonly requests: number;
  readonly concurrency: number;
  readonly maxTokens: number;
  readonly succeeded: number;
  readonly failures: readonly LoadFailure[];
  readonly wallSeconds: number;
  /** Latency of each successful request in milliseconds, sorted ascending. */
  readonly latenciesMs: readonly number[];
  readonly completionTokens: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly requestsPerSecond: number;
  readonly completionTokensPerSecond: number;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Returns the nearest-rank percentile `p` (0 < p ≤ 100) of ascending `sorted` values, or NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new InvalidArgumentError(`percentile must be in (0, 100], got ${p}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[rank - 1] as number;
}

function checkOptions(options: LoadOptions): void {
  const problems: string[] = [];
  let host = "";
  try {
    host = new URL(options.url).hostname;
  } catch {
    problems.push(`url must be an absolute URL, got ${JSON.stringify(options.url)}`);
  }
  if (host !== "" && !LOOPBACK.has(host))
    problems.push(`url must point at a loopback address (127.0.0.1, localhost or [::1]), got ${host}`);
  for (const name of ["requests", "concurrency", "maxTokens"] as const) {
    if (!Number.isInteger(options[name]) || options[name] < 1)
      problems.push(`${name} must be an integer ≥ 1, got ${String(options[name])}`);
  }
  if (!Array.isArray(options.prompts) || options.prompts.length === 0) problems.push("prompts must be a non-empty array of strings");
  if (problems.length > 0)
    throw new InvalidArgumentError(`invalid load options:\n  - ${problems.join("\n  - ")}`, { details: { problems } });
}

/** Sends one request and returns its generated token count; throws a LoadFailure-shaped error otherwise. */
async function sendOne(options: LoadOptions, index: number): Promise<number> {
  const body = {
    model: options.model,
    messages: [{ role: "user", content: options.prompts[index % options.prompts.length] }],
    max_tokens: options.maxTokens,
    temperature: 0.8,
    seed: index,
    ignore_eos: true,
    memories: options.memories ?? [],
    stream: options.stream === true,
    ...(options.stream === true ? { stream_options: { include_usage: true } } : {}),
  };
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;
  const response = await fetch(`${options.url}/v1/chat/completions`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(options.requestTimeoutMs ?? 120_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw Object.assign(new Error(text.slice(0, 300)), { status: response.status });

  // The token count comes from usage: the JSON body's, or the usage chunk of a stream.
  let usage: { completion_tokens?: number } | undefined;
  if (options.stream === true) {
    const events = text.split("\n\n").filter((block) => block.startsWith("data: "));
    if (events.at(-1) !== "data: [DONE]") throw Object.assign(new Error("the stream did not end with data: [DONE]"), { status: 200 });
    const last = JSON.parse((events.at(-2) ?? "data: {}").slice("data: ".length)) as {
      usage?: { completion_tokens?: number };
      error?: unknown;
    };
    usage = last.usage;
  } else {
    usage = (JSON.parse(text) as { usage?: { completion_tokens?: number } }).usage;
  }
  if (typeof usage?.completion_tokens !== "number")
    throw Object.assign(new Error(`the response has no usage: ${text.slice(0, 200)}`), { status: 200 });
  return usage.completion_tokens;
}

/** Runs the load and returns its statistics; failed requests are counted, not thrown. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  checkOptions(options);
  const latencies: number[] = [];
  const failures: LoadFailure[] = [];
  let completionTokens = 0;
  let next = 0;

  // Each worker takes the next request index until none is left.
  const worker = async () => {
    for (;;) {
      const index = next;
      next++;
      if (index >= options.requests) return;
      const started = performance.now();
      try {
        // Awaited first: `total += await x` would read the total before the wait and lose updates.
        const tokens = await sendOne(options, index);
        completionTokens += tokens;
        latencies.push(performance.now() - started);
      } catch (error) {
        const status = typeof (error as { status?: unknown }).status === "number" ? (error as { status: number }).status : 0;
        failures.push({ index, status, message: (error as Error).message });
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.requests) }, worker));
  const wallSeconds = (performance.now() - started) / 1000;

  latencies.sort((a, b) => a - b);
  return {
    requests: options.requests,
    concurrency: options.concurrency,
    maxTokens: options.maxTokens,
    succeeded: latencies.length,
    failures,
    wallSeconds,
    latenciesMs: latencies,
    completionTokens,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
    requestsPerSecond: latencies.length / wallSeconds,
    completionTokensPerSecond: completionTokens / wallSeconds,
  };
}

/** Formats a load result as a Markdown table row set, with a title line. */
export function formatLoadMarkdown(
  result: LoadResult,
  setup: { readonly model: string; readonly machine: string; readonly stream: boolean; readonly memories: number },
): string {
  const ms = (value: number) => (Number.isNaN(value) ? "–" : value.toFixed(1));
  return [
    `### Chat completions over HTTP: ${result.requests} requests, ${result.concurrency} at a time`,
    "",
    `Model ${setup.model}, ${setup.memories} memor${setup.memories === 1 ? "y" : "ies"} read per request, max_tokens ${result.maxTokens} with ignore_eos, ${setup.stream ? "streamed" : "not streamed"}; ${setup.machine}.`,
    "",
    "| requests | concurrency | errors | p50 ms | p90 ms | p99 ms | requests/s | completion tokens/s | wall s |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| ${result.requests} | ${result.concurrency} | ${result.failures.length} | ${ms(result.p50Ms)} | ${ms(result.p90Ms)} | ${ms(result.p99Ms)} | ${result.requestsPerSecond.toFixed(1)} | ${result.completionTokensPerSecond.toFixed(0)} | ${result.wallSeconds.toFixed(2)} |`,
    "",
  ].join("\n");
}
