import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ChatJudge, chatCompletionsUrl, judgeMessages, parseVerdict } from "./judge.js";
import { type MockChatServer, completionBody, startMockChatServer } from "./test/mock-chat-server.js";

const REQUEST = { question: "What colour was the ball?", answers: ["red", "a red ball"], prediction: "It was red." };

describe("parseVerdict", () => {
  it.each([
    ["CORRECT", true],
    ["correct.", true],
    ["**Correct**", true],
    ["Yes", true],
    ["INCORRECT", false],
    [" Incorrect - the colour differs", false],
    ["no", false],
    ["The answer is right", null],
    ["", null],
  ])("%j -> %s", (reply, expected) => {
    expect(parseVerdict(reply)).toBe(expected);
  });
});

describe("chatCompletionsUrl", () => {
  it("appends /chat/completions to a base URL once", () => {
    expect(chatCompletionsUrl("http://127.0.0.1:8000/v1")).toBe("http://127.0.0.1:8000/v1/chat/completions");
    expect(chatCompletionsUrl("http://127.0.0.1:8000/v1/")).toBe("http://127.0.0.1:8000/v1/chat/completions");
    expect(chatCompletionsUrl("https://example.test/v1/chat/completions")).toBe("https://example.test/v1/chat/completions");
  });

  it("rejects invalid URLs and other protocols", () => {
    expect(() => chatCompletionsUrl("localhost:8000")).toThrow(/must use http or https, got localhost in "localhost:8000"/);
    expect(() => chatCompletionsUrl("127.0.0.1:8000")).toThrow(/the judge URL "127.0.0.1:8000" is not a valid URL; give one like http:/);
    expect(() => chatCompletionsUrl("not a url")).toThrow(/the judge URL "not a url" is not a valid URL/);
    expect(() => chatCompletionsUrl("ftp://host/v1")).toThrow(/must use http or https, got ftp/);
  });
});

describe("ChatJudge", () => {
  let server: MockChatServer | null = null;

  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it("sends a chat completion request and reads the verdict", async () => {
    server = await startMockChatServer([{ status: 200, body: completionBody("CORRECT") }]);
    const judge = new ChatJudge({ url: server.baseUrl, model: "judge-model", apiKey: "secret-key" });
    const verdict = await judge.judge(REQUEST);
    expect(verdict).toEqual({ correct: true, reply: "CORRECT", attempts: 1 });

    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.method).toBe("POST");
    expect(request.url).toBe("/v1/chat/completions");
    expect(request.headers.authorization).toBe("Bearer secret-key");
    expect(request.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(request.body);
    expect(body.model).toBe("judge-model");
    expect(body.temperature).toBe(0);
    expect(body.messages).toEqual(judgeMessages(REQUEST));
    expect(body.messages[0].role).toBe("system");
    expect(body.messages[1].content).toBe(
      "Question: What colour was the ball?\nReference answers:\n- red\n- a red ball\nCandidate answer: It was red.\nVerdict:",
    );
  });

  it("sends no authorization header without a key", async () => {
    server = await startMockChatServer([{ status: 200, body: completionBody("INCORRECT") }]);
    const verdict = await new ChatJudge({ url: server.baseUrl, model: "m" }).judge(REQUEST);
    expect(verdict.correct).toBe(false);
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });

  it("keeps an unreadable verdict as null with the reply", async () => {
    server = await startMockChatServer([{ status: 200, body: completionBody("  I cannot tell.  ") }]);
    const verdict = await new ChatJudge({ url: server.baseUrl, model: "m" }).judge(REQUEST);
    expect(verdict).toEqual({ correct: null, reply: "I cannot tell.", attempts: 1 });
  });

  it("retries HTTP 500 and 429, then succeeds", async () => {
    server = await startMockChatServer([
      { status: 500, body: "overloaded" },
      { status: 429, body: "slow down" },
      { status: 200, body: completionBody("correct") },
    ]);
    const verdict = await new ChatJudge({ url: server.baseUrl, model: "m", retries: 2, retryDelayMs: 1 }).judge(REQUEST);
    expect(verdict).toEqual({ correct: true, reply: "correct", attempts: 3 });
    expect(server.requests).toHaveLength(3);
  });

  it("gives up after the retries with the last status", async () => {
    server = await startMockChatServer([
      { status: 503, body: "down" },
      { status: 503, body: "still down" },
    ]);
    const judge = new ChatJudge({ url: server.baseUrl, model: "m", retries: 1, retryDelayMs: 1 });
    await expect(judge.judge(REQUEST)).rejects.toMatchObject({
      name: "JudgeError",
      message: `the judge at ${server.baseUrl}/chat/completions failed after 2 requests: HTTP 503 Service Unavailable: still down`,
    });
    expect(server.requests).toHaveLength(2);
  });

  it("does not retry a client error", async () => {
    server = await startMockChatServer([{ status: 401, body: '{"error": "invalid api key"}' }]);
    const judge = new ChatJudge({ url: server.baseUrl, model: "m", retries: 3, retryDelayMs: 1 });
    await expect(judge.judge(REQUEST)).rejects.toThrow(/failed after 1 request: HTTP 401 Unauthorized: \{"error": "invalid api key"\}/);
    expect(server.requests).toHaveLength(1);
  });

  it("rejects a body that is not JSON", async () => {
    server = await startMockChatServer([{ status: 200, body: "<html>proxy page</html>" }]);
    await expect(new ChatJudge({ url: server.baseUrl, model: "m" }).judge(REQUEST)).rejects.toMatchObject({
      name: "JudgeError",
      message: expect.stringMatching(/returned a body that is not JSON: <html>proxy page<\/html>$/),
    });
  });

  it("rejects JSON without choices[0].message.content", async () => {
    server = await startMockChatServer([{ status: 200, body: JSON.stringify({ choices: [] }) }]);
    await expect(new ChatJudge({ url: server.baseUrl, model: "m" }).judge(REQUEST)).rejects.toMatchObject({
      name: "JudgeError",
      message: expect.stringContaining(
        "returned no choices[0].message.content string; is it an OpenAI-compatible chat completions endpoint?",
      ),
    });
  });

  it("times out a server that does not answer", async () => {
    server = await startMockChatServer(["hang"]);
    const judge = new ChatJudge({ url: server.baseUrl, model: "m", timeoutMs: 200, retries: 0 });
    await expect(judge.judge(REQUEST)).rejects.toThrow(/failed after 1 request: no response within 200 ms/);
  });

  it("reports a refused connection", async () => {
    // Take a free loopback port, then close it so nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const judge = new ChatJudge({ url: `http://127.0.0.1:${port}/v1`, model: "m", retries: 1, retryDelayMs: 1 });
    await expect(judge.judge(REQUEST)).rejects.toThrow(/failed after 2 requests: request failed \(fetch failed: .*ECONNREFUSED/);
  });

  it("validates its options", () => {
    expect(() => new ChatJudge({ url: "http://127.0.0.1:1/v1", model: " ", timeoutMs: 0, retries: -1 })).toThrow(
      'invalid judge options: model must be a non-empty string, got " "; timeoutMs must be a number > 0, got 0; retries must be an integer ≥ 0, got -1',
    );
  });
});
