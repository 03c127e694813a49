/**
 * Limits and safety over real sockets on 127.0.0.1: each rejected request gets its
 * status code and an OpenAI-shaped error body, and the server then serves the next
 * request normally. Also client disconnects, timeouts, request ids and the logs.
 */

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { ResolvedModel } from "@lcc/models";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CAT_STORY,
  type ErrorBody,
  type TestServer,
  chatRequest,
  compileMemoryFile,
  loadTestModel,
  requestJson,
  startTestServer,
  waitFor,
} from "./test/fixtures.js";

const API_KEY = `sk-test-${randomBytes(12).toString("hex")}`;
const AUTH = { authorization: `Bearer ${API_KEY}` };
const BODY_LIMIT = 16 * 1024;
const UPLOAD_LIMIT = 64 * 1024;

let resolved: ResolvedModel;
let test: TestServer;
let folder: string;
let memoryId: string;

beforeAll(async () => {
  resolved = await loadTestModel();
  folder = await mkdtemp(path.join(os.tmpdir(), "lcc-server-safety-"));
  // A file beside the memory folder, which no id may reach.
  await writeFile(path.join(folder, "secret.lccm"), "not a memory");
  test = await startTestServer(resolved, {
    apiKey: API_KEY,
    memoryDir: path.join(folder, "memories"),
    limits: { maxConcurrent: 1, maxQueued: 0, bodyLimitBytes: BODY_LIMIT, memoryUploadLimitBytes: UPLOAD_LIMIT, maxTokens: 500 },
  });
  const uploaded = await requestJson<{ id: string }>(`${test.url}/v1/memories`, "POST", await compileMemoryFile(resolved, CAT_STORY), AUTH);
  expect(uploaded.status).toBe(201);
  memoryId = uploaded.body.id;
});

afterAll(async () => {
  await test?.server.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

/** Checks that a normal chat completion succeeds, so the server recovered from what came before. */
async function expectServesNormally(): Promise<void> {
  const response = await requestJson<{ choices: { finish_reason: string }[]; usage: { completion_tokens: number; memory_tokens: number } }>(
    `${test.url}/v1/chat/completions`,
    "POST",
    chatRequest("Mia had a cat", { memories: [memoryId], max_tokens: 4, ignore_eos: true }),
    AUTH,
  );
  expect(response.status).toBe(200);
  expect(response.body.usage.completion_tokens).toBe(4);
  expect(response.body.usage.memory_tokens).toBeGreaterThan(0);
}

function expectError(response: { status: number; body: unknown }, status: number, type: string, code: string): ErrorBody["error"] {
  expect(response.status).toBe(status);
  const error = (response.body as ErrorBody).error;
  expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(error.type).toBe(type);
  expect(error.code).toBe(code);
  expect(error.message.length).toBeGreaterThan(10);
  return error;
}

/** Starts a long streamed completion and resolves once its first chunk arrived; `abort` disconnects. */
async function startLongStream(): Promise<{ abort: () => void; firstChunk: string }> {
  const controller = new AbortController();
  const response = await fetch(`${test.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...AUTH },
    body: JSON.stringify(chatRequest("Once upon a time", { max_tokens: 500, ignore_eos: true, stream: true })),
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  return { abort: () => controller.abort(), firstChunk: new TextDecoder().decode(first.value) };
}

/** Sends a request with `rawPath` exactly as given, and parses the JSON response. */
async function rawRequest(method: string, rawPath: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port: new URL(test.url).port, path: rawPath, method, headers: AUTH }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) }));
    });
    request.on("error", reject);
    request.end();
  });
}

function counter(metrics: string, name: string): number {
  const line = metrics.split("\n").find((entry) => entry.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

async function metricsText(): Promise<string> {
  return (await fetch(`${test.url}/metrics`, { headers: AUTH })).text();
}

describe("errors and limits", () => {
  it("rejects malformed JSON", async () => {
    const response = await requestJson(`${test.url}/v1/chat/completions`, "POST", '{"model": "stories260K", "messages": [', AUTH);
    const error = expectError(response, 400, "invalid_request_error", "invalid_json");
    expect(error.message).toMatch(/not valid JSON/);
    await expectServesNormally();
  });

  it("rejects an unknown memory", async () => {
    const unknown = "f".repeat(64);
    const response = await requestJson(`${test.url}/v1/chat/completions`, "POST", chatRequest("Hi", { memories: [unknown] }), AUTH);
    const error = expectError(response, 404, "not_found_error", "memory_not_found");
    expect(error.param).toBe("memories");
    expect(error.message).toBe(
      `no memory with id ${unknown} exists on this server; upload it with POST /v1/memories or list them with GET /v1/memories`,
    );
    const described = await requestJson(`${test.url}/v1/memories/${unknown}`, "GET", undefined, AUTH);
    expectError(described, 404, "not_found_error", "memory_not_found");
    await expectServesNormally();
  });

  it("rejects a text/plain body with 415", async () => {
    for (const endpoint of ["/v1/chat/completions", "/v1/memories/compile"]) {
      const response = await requestJson(`${test.url}${endpoint}`, "POST", JSON.stringify(chatRequest("Hi")), {
        ...AUTH,
        "content-type": "text/plain",
      });
      expectError(response, 415, "invalid_request_error", "unsupported_media_type");
    }
    await expectServesNormally();
  });

  it("removes __proto__ and constructor.prototype keys", async () => {
    // Valid JSON whose keys could replace a prototype: the keys are dropped and the rest is read.
    const body =
      '{"__proto__": {"max_tokens": 1, "polluted": true}, "constructor": {"prototype": {"polluted": true}}, ' +
      '"model": "stories260K", "max_tokens": 3, "ignore_eos": true, "temperature": 0, ' +
      '"messages": [{"role": "user", "content": "Mia had a cat", "__proto__": {"content": "ignored"}}]}';
    const response = await requestJson<{ usage: { prompt_tokens: number; completion_tokens: number } }>(
      `${test.url}/v1/chat/completions`,
      "POST",
      body,
      AUTH,
    );
    const plain = await requestJson<{ usage: { prompt_tokens: number } }>(
      `${test.url}/v1/chat/completions`,
      "POST",
      chatRequest("Mia had a cat", { max_tokens: 3, ignore_eos: true }),
      AUTH,
    );
    expect(response.status).toBe(200);
    expect(response.body.usage.completion_tokens).toBe(3);
    expect(response.body.usage.prompt_tokens).toBe(plain.body.usage.prompt_tokens);
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).max_tokens).toBeUndefined();
  });

  it("answers a URL beyond the header limit with 431 in the error shape", async () => {
    const response = await rawRequest("GET", `/v1/memories/${"a".repeat(http.maxHeaderSize + 1)}`);
    const error = expectError(response, 431, "invalid_request_error", "headers_too_large");
    expect(error.message).toContain(`limit of ${http.maxHeaderSize} bytes`);
    await expectServesNormally();
  });

  it("answers bytes that are not HTTP with 400 in the error shape", async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port: Number(new URL(test.url).port) }, () => socket.write("HELLO THERE\r\n\r\n"));
      let received = "";
      socket.setEncoding("utf8").on("data", (chunk: string) => {
        received += chunk;
      });
      socket.on("close", () => resolve(received));
      socket.on("error", reject);
    });
    const [head, body] = raw.split("\r\n\r\n");
    expect(head?.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
    expect(head).toMatch(/^connection: close$/m);
    expectError({ status: 400, body: JSON.parse(body ?? "") }, 400, "invalid_request_error", "invalid_http");
    await expectServesNormally();
  });

  it("rejects an oversized body", async () => {
    const padding = "a".repeat(BODY_LIMIT + 1);
    const response = await requestJson(`${test.url}/v1/chat/completions`, "POST", chatRequest(padding), AUTH);
    const error = expectError(response, 413, "invalid_request_error", "body_too_large");
    expect(error.message).toContain(`${BODY_LIMIT} bytes`);

    const upload = await requestJson(`${test.url}/v1/memories`, "POST", new Uint8Array(UPLOAD_LIMIT + 1), AUTH);
    expect(expectError(upload, 413, "invalid_request_error", "body_too_large").message).toContain(`${UPLOAD_LIMIT} bytes`);

    // A chunked body without content-length is counted as it arrives.
    const chunked = await fetch(`${test.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...AUTH },
      body: new Blob([JSON.stringify(chatRequest(padding))]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    await expectServesNormally();
  });

  it("rejects ids that could name other paths", async () => {
    for (const id of ["..%2F..%2Fetc%2Fpasswd", "..%2Fsecret", "A".repeat(64), "a".repeat(63), `${"a".repeat(64)}.lccm`]) {
      for (const method of ["GET", "DELETE"]) {
        const response = await requestJson(`${test.url}/v1/memories/${id}`, method, undefined, AUTH);
        expectError(response, 400, "invalid_request_error", "invalid_memory_id");
      }
    }

    // Raw paths, sent without the normalisation fetch applies to dot segments.
    for (const rawPath of ["/v1/memories/..", "/v1/memories/%2E%2E", "/v1/memories/..%2fsecret"]) {
      expectError(await rawRequest("DELETE", rawPath), 400, "invalid_request_error", "invalid_memory_id");
    }
    expectError(await rawRequest("DELETE", "/v1/memories/../../secret"), 404, "invalid_request_error", "unknown_endpoint");
    expect(existsSync(path.join(folder, "secret.lccm"))).toBe(true);

    const inBody = await requestJson(`${test.url}/v1/chat/completions`, "POST", chatRequest("Hi", { memories: ["../secret"] }), AUTH);
    expect(expectError(inBody, 400, "invalid_request_error", "invalid_value").param).toBe("memories[0]");
    await expectServesNormally();
  });

  it("rejects a wrong or missing token", async () => {
    const wrong = await requestJson(`${test.url}/v1/models`, "GET", undefined, { authorization: "Bearer sk-wrong" });
    expectError(wrong, 401, "authentication_error", "invalid_api_key");
    expect(wrong.headers.get("www-authenticate")).toBe("Bearer");
    const missing = await requestJson(`${test.url}/v1/chat/completions`, "POST", chatRequest("Hi"));
    expectError(missing, 401, "authentication_error", "missing_api_key");
    const malformed = await requestJson(`${test.url}/v1/memories`, "GET", undefined, { authorization: API_KEY });
    expectError(malformed, 401, "authentication_error", "invalid_api_key");
    const unknownRoute = await requestJson(`${test.url}/v1/secret-route`, "GET");
    expectError(unknownRoute, 401, "authentication_error", "missing_api_key");

    // /health needs no key.
    const health = await requestJson(`${test.url}/health`, "GET");
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: "ok", model: "stories260K", memories: 1 });
    await expectServesNormally();
  });

  it("rejects a request beyond the queue", async () => {
    const long = await startLongStream();
    expect(long.firstChunk).toMatch(/^data: \{"id":"chatcmpl-/);
    const rejected = await requestJson(`${test.url}/v1/chat/completions`, "POST", chatRequest("Hi"), AUTH);
    const error = expectError(rejected, 429, "rate_limit_error", "queue_full");
    expect(error.message).toMatch(/1 requests are running \(maxConcurrent 1\) and 0 are waiting \(maxQueued 0\)/);
    expect(rejected.headers.get("retry-after")).toBe("1");

    long.abort();
    await waitFor(() => test.server.engine.queueStats().running === 0, 10_000, "the cancelled request to free its slot");
    await expectServesNormally();
  });

  it("rejects unsupported requests and unknown models", async () => {
    const many = await requestJson(`${test.url}/v1/chat/completions`, "POST", chatRequest("Hi", { n: 3 }), AUTH);
    expect(expectError(many, 400, "invalid_request_error", "invalid_value").param).toBe("n");
    const model = await requestJson(`${test.url}/v1/chat/completions`, "POST", chatRequest("Hi", { model: "gpt-4o" }), AUTH);
    expect(expectError(model, 404, "invalid_request_error", "model_not_found").message).toMatch(/it serves "stories260K"/);
    const upload = await requestJson(`${test.url}/v1/memories`, "POST", { not: "bytes" }, AUTH);
    expectError(upload, 415, "invalid_request_error", "unsupported_media_type");
    const garbage = await requestJson(`${test.url}/v1/memories`, "POST", new Uint8Array([1, 2, 3, 4]), AUTH);
    expectError(garbage, 400, "invalid_request_error", "invalid_memory");
    const tooLong = await requestJson(
      `${test.url}/v1/chat/completions`,
      "POST",
      chatRequest("Once upon a time ".repeat(200), { memories: [memoryId] }),
      AUTH,
    );
    expect(expectError(tooLong, 400, "invalid_request_error", "context_length_exceeded").message).toMatch(
      /context window is 512 positions/,
    );
    await expectServesNormally();
  });
});

describe("cancellation", () => {
  it("cancels a streamed generation when the client disconnects", async () => {
    const before = counter(await metricsText(), 'lcc_chat_completions_total{finish_reason="cancelled"}');
    const long = await startLongStream();
    long.abort();

    await waitFor(
      async () => counter(await metricsText(), 'lcc_chat_completions_total{finish_reason="cancelled"}') === before + 1,
      10_000,
      "the cancelled count",
    );
    const record = test.logs.records().findLast((entry) => entry.msg === "client disconnected; generation cancelled");
    expect(record?.finishReason).toBe("cancelled");
    expect(record?.completionTokens as number).toBeLessThan(500);
    expect(test.server.engine.queueStats()).toEqual({ running: 0, queued: 0 });
    expect(await metricsText()).toMatch(/^lcc_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} \d+$/m);
  });

  it("cancels a non-streamed generation when the client disconnects", async () => {
    const before = counter(await metricsText(), 'lcc_chat_completions_total{finish_reason="cancelled"}');
    const controller = new AbortController();
    const pending = fetch(`${test.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...AUTH },
      body: JSON.stringify(chatRequest("Once upon a time", { max_tokens: 500, ignore_eos: true })),
      signal: controller.signal,
    }).catch((error: unknown) => error);
    await waitFor(() => test.server.engine.queueStats().running === 1, 10_000, "the request to start");
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);

    await waitFor(
      async () => counter(await metricsText(), 'lcc_chat_completions_total{finish_reason="cancelled"}') === before + 1,
      10_000,
      "the cancelled count",
    );
    const record = test.logs.records().findLast((entry) => entry.msg === "client disconnected; generation cancelled");
    expect(record?.completionTokens as number).toBeLessThan(500);
    expect(await metricsText()).toMatch(
      /^lcc_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="499"\} [1-9]\d*$/m,
    );
    await expectServesNormally();
  });
});

describe("request ids and logs", () => {
  it("echoes a request id and logs with it", async () => {
    const response = await requestJson(`${test.url}/v1/models`, "GET", undefined, { ...AUTH, "x-request-id": "trace-42" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).toBe("trace-42");
    const generated = await requestJson(`${test.url}/v1/models`, "GET", undefined, { ...AUTH, "x-request-id": "bad id with spaces" });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

    const records = test.logs.records();
    expect(records.some((entry) => entry.requestId === "trace-42" && entry.msg === "request completed")).toBe(true);
    const completed = records.filter((entry) => entry.msg === "request completed");
    expect(completed.length).toBeGreaterThan(10);
    expect(completed.every((entry) => typeof entry.requestId === "string" && (entry.requestId as string).length > 0)).toBe(true);
  });

  it("never logs the API key", () => {
    expect(test.logs.lines.length).toBeGreaterThan(20);
    expect(test.logs.text()).not.toContain(API_KEY);
  });
});

describe("timeouts", () => {
  let slow: TestServer;

  beforeAll(async () => {
    slow = await startTestServer(resolved, { limits: { requestTimeoutMs: 150, maxTokens: 500 } });
  });

  afterAll(async () => {
    await slow?.server.close();
  });

  it("times out a long generation", async () => {
    const response = await requestJson(
      `${slow.url}/v1/chat/completions`,
      "POST",
      chatRequest("Once upon a time", { max_tokens: 500, ignore_eos: true }),
    );
    const error = expectError(response, 504, "server_error", "request_timeout");
    expect(error.message).toMatch(/request timeout of 150 ms/);

    const streamed = await fetch(`${slow.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chatRequest("Once upon a time", { max_tokens: 500, ignore_eos: true, stream: true })),
    });
    expect(streamed.status).toBe(200);
    const text = await streamed.text();
    const events = text.split("\n\n").filter((block) => block.startsWith("data: "));
    expect(events.at(-1)).toMatch(/^data: \{"error":\{.*"code":"request_timeout"\}\}$/);
    expect(text).not.toContain("[DONE]");

    const short = await requestJson<{ usage: { completion_tokens: number } }>(
      `${slow.url}/v1/chat/completions`,
      "POST",
      chatRequest("Once upon a time", { max_tokens: 3, ignore_eos: true }),
    );
    expect(short.status).toBe(200);
    expect(short.body.usage.completion_tokens).toBe(3);
  });
});

describe("shutdown", () => {
  it("ends running completions with 503 and stops", async () => {
    const closing = await startTestServer(resolved, { limits: { maxConcurrent: 1, maxQueued: 4, maxTokens: 500 } });
    const body = (stream: boolean) => JSON.stringify(chatRequest("Once upon a time", { max_tokens: 500, ignore_eos: true, stream }));
    const post = (stream: boolean) =>
      fetch(`${closing.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: body(stream) });

    // One streamed completion runs; one more waits in the queue.
    const streamed = await post(true);
    expect(streamed.status).toBe(200);
    const waiting = post(false);
    await waitFor(() => closing.server.engine.queueStats().queued === 1, 10_000, "the second request to wait");

    const started = performance.now();
    await closing.server.close();
    expect(performance.now() - started).toBeLessThan(5_000);

    const waited = await waiting;
    expect(waited.status).toBe(503);
    expect(((await waited.json()) as ErrorBody).error.code).toBe("server_shutting_down");
    const text = await streamed.text();
    expect(text.trimEnd().split("\n\n").at(-1)).toMatch(/^data: \{"error":\{.*"code":"server_shutting_down"\}\}$/);
    expect(closing.logs.records().some((entry) => entry.msg === "server stopped")).toBe(true);
  });
});
