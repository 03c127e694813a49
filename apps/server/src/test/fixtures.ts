/**
 * Test fixtures: stories260K, memories compiled for real with few steps, servers on
 * 127.0.0.1 with a free port, log capture, and small HTTP and server-sent event readers.
 */

import { encodeMemory } from "@lcc/artifact";
import { builtInQueryPool, compileContext, toMemoryArtifact } from "@lcc/compiler";
import { type ResolvedModel, loadModel, modelHashes } from "@lcc/models";
import type { LccServer } from "../server.js";
import { startServer } from "../server.js";
import type { ServerOptions } from "../options.js";
import { sharedPath } from "./shared.js";

/** Two short stories written for these tests. */
export const CAT_STORY =
  'Once upon a time, there was a little girl named Mia. Mia had a fluffy white cat called Snow. Every day, Mia and Snow played with a blue ball of yarn near the window. One morning, the yarn rolled under the bed, and Snow crawled after it. Mia laughed and said, "Snow, you are so brave!"';
export const TRAIN_STORY =
  "Tom loved trains more than anything. One Saturday, his grandpa took him to the old station to see the big red engine. The engine puffed white smoke and blew its loud whistle. Tom waved at the driver, and the driver waved back. On the way home, Tom told grandpa that he wanted to drive a train one day.";

/** onnxruntime options of the tests: no graph cache on disk, one thread per session. */
export const TEST_SESSION_OPTIONS = Object.freeze({ cacheDir: null, threads: 1 });

export async function loadTestModel(): Promise<ResolvedModel> {
  return loadModel(sharedPath("models", "stories260K"));
}

/** Compiles `text` with 3 steps and 2 queries (about a second) and returns the bytes of its memory file. */
export async function compileMemoryFile(
  resolved: ResolvedModel,
  text: string,
  dtype: "float32" | "float16" = "float32",
): Promise<Uint8Array> {
  const { tokenizer } = resolved;
  const compiled = await compileContext({
    model: resolved.model,
    contextIds: tokenizer.encode(text, { addBos: false }),
    queryPool: builtInQueryPool("story-openings").map((entry) => tokenizer.encode(entry, { addBos: false })),
    options: { steps: 3, queries: 2, seed: 0, threads: 1 },
    sessionOptions: TEST_SESSION_OPTIONS,
  });
  const memory = toMemoryArtifact(compiled, {
    fingerprint: modelHashes(resolved.model, resolved.tokenizer),
    sourceText: text,
    producerVersion: "0.0.0-test",
  });
  return encodeMemory(memory, { dtype });
}

/** Collects the server's JSON log lines. */
export class LogCollector {
  readonly lines: string[] = [];

  write(line: string): void {
    this.lines.push(line);
  }

  records(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  text(): string {
    return this.lines.join("");
  }
}

export interface TestServer {
  readonly server: LccServer;
  readonly url: string;
  readonly logs: LogCollector;
}

/** Starts a server on 127.0.0.1 with a free port, logging at info level into a collector. */
export async function startTestServer(model: ResolvedModel, options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const logs = new LogCollector();
  const server = await startServer({
    model,
    host: "127.0.0.1",
    port: 0,
    logLevel: "info",
    logStream: logs,
    sessionOptions: TEST_SESSION_OPTIONS,
    ...options,
  });
  return { server, url: server.url, logs };
}

export interface JsonResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** Sends a request with an optional JSON body and parses the JSON response. */
export async function requestJson<T = Record<string, unknown>>(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??=
      body instanceof Uint8Array ? "application/octet-stream" : "application/json";
  }
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) as T };
}

export interface ServerSentEvent {
  readonly event: string | null;
  readonly data: string;
}

/** Reads a text/event-stream body to its end and returns its events (comments are skipped). */
export async function readEvents(response: Response): Promise<ServerSentEvent[]> {
  const text = await response.text();
  const events: ServerSentEvent[] = [];
  for (const block of text.split("\n\n")) {
    let event: string | null = null;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice("event: ".length);
      else if (line.startsWith("data: ")) data.push(line.slice("data: ".length));
    }
    if (data.length > 0) events.push({ event, data: data.join("\n") });
  }
  return events;
}

/** The body shape of every API error. */
export interface ErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null; readonly code: string };
}

/** Builds a chat completion request for stories260K with greedy decoding. */
export function chatRequest(prompt: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: "stories260K", messages: [{ role: "user", content: prompt }], max_tokens: 12, temperature: 0, ...extra };
}

/** Polls `check` every 20 ms until it returns true, failing after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
