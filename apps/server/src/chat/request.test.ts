import { describe, expect, it } from "vitest";
import { ApiError } from "../api-error.js";
import { parseChatCompletionRequest } from "./request.js";

const LIMITS = { maxTokens: 64 };
const MEMORY_ID = "ab".repeat(32);

function parseError(body: unknown): ApiError {
  try {
    parseChatCompletionRequest(body, LIMITS);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error("expected an ApiError");
}

describe("parseChatCompletionRequest", () => {
  it("joins message texts with newlines", () => {
    const call = parseChatCompletionRequest(
      {
        model: "stories260K",
        messages: [
          { role: "system", content: "A story." },
          {
            role: "user",
            content: [
              { type: "text", text: "Once upon" },
              { type: "text", text: " a time" },
            ],
          },
          { role: "assistant", content: "there was" },
        ],
      },
      LIMITS,
    );
    expect(call.prompt).toBe("A story.\nOnce upon a time\nthere was");
  });

  it("applies OpenAI's defaults and the server's token limit", () => {
    const call = parseChatCompletionRequest({ model: "m", messages: [{ role: "user", content: "hi" }] }, LIMITS);
    expect(call.maxTokens).toBe(64);
    expect(call.temperature).toBe(1);
    expect(call.topP).toBe(1);
    expect(call.topK).toBe(0);
    expect(call.stream).toBe(false);
    expect(call.includeUsage).toBe(false);
    expect(call.ignoreEos).toBe(false);
    expect(call.memories).toEqual([]);
    expect(call.stop).toEqual([]);
    expect(Number.isInteger(call.seed)).toBe(true);
    expect(call.seed).toBeGreaterThanOrEqual(0);
    expect(call.seed).toBeLessThan(2 ** 32);
  });

  it("reads every supported field", () => {
    const call = parseChatCompletionRequest(
      {
        model: "m",
        messages: [{ role: "user", content: "hi" }],
        max_completion_tokens: 7,
        temperature: 0.5,
        top_p: 0.9,
        top_k: 40,
        seed: 123,
        stop: "\n\n",
        stream: true,
        stream_options: { include_usage: true },
        memories: [MEMORY_ID],
        ignore_eos: true,
        n: 1,
        user: "someone",
      },
      LIMITS,
    );
    expect(call).toMatchObject({
      maxTokens: 7,
      temperature: 0.5,
      topP: 0.9,
      topK: 40,
      seed: 123,
      stop: ["\n\n"],
      stream: true,
      includeUsage: true,
      ignoreEos: true,
    });
    expect(call.memories).toEqual([MEMORY_ID]);
  });

  it("lists every problem and names the first field", () => {
    const error = parseError({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 65,
      temperature: 3,
      stop: ["a", "b", "c", "d", "e"],
    });
    expect(error.status).toBe(400);
    expect(error.code).toBe("invalid_value");
    expect(error.param).toBe("max_tokens");
    expect(error.message).toMatch(/max_tokens must be an integer from 1 to 64/);
    expect(error.message).toMatch(/temperature must be a number from 0 to 2, got 3/);
    expect(error.message).toMatch(/at most 4 non-empty strings/);
  });

  it.each([
    [{ messages: [{ role: "user", content: "hi" }] }, "model"],
    [{ model: "m", messages: [] }, "messages"],
    [{ model: "m", messages: [{ role: "tool", content: "hi" }] }, "messages[0].role"],
    [{ model: "m", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }, "messages[0].content[0]"],
    [{ model: "m", messages: [{ role: "user", content: "" }] }, "messages"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], n: 2 }, "n"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], logprobs: true }, "logprobs"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], tools: [{ type: "function" }] }, "tools"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], presence_penalty: 0.5 }, "presence_penalty"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], top_p: 0 }, "top_p"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], seed: -1 }, "seed"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], stream: "yes" }, "stream"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], stream_options: { include_usage: true } }, "stream_options"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 5, max_completion_tokens: 6 }, "max_tokens"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], memories: "abc" }, "memories"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], memories: ["../../etc/passwd"] }, "memories[0]"],
    [{ model: "m", messages: [{ role: "user", content: "hi" }], memories: [MEMORY_ID.toUpperCase()] }, "memories[0]"],
  ])("rejects %j at %s", (body, param) => {
    const error = parseError(body);
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
  });

  it("rejects a body that is not an object", () => {
    for (const body of [null, [], "text", 3]) {
      const error = parseError(body);
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/must be a JSON object/);
    }
  });
});
