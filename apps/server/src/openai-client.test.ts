/**
 * The official openai npm client against a server on 127.0.0.1, with the `memories`
 * extension field sent as an extra body parameter. Answers are compared with the
 * engine's own generation for the same prompt and memory.
 */

import { randomBytes } from "node:crypto";
import type { ResolvedModel } from "@lcc/models";
import OpenAI from "openai";
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAT_STORY, type TestServer, compileMemoryFile, loadTestModel, requestJson, startTestServer } from "./test/fixtures.js";

const API_KEY = `sk-test-${randomBytes(12).toString("hex")}`;

/** The request body with lcc's extension field, which the client passes through unchanged. */
type MemoryChatParams = ChatCompletionCreateParamsNonStreaming & { memories: string[] };

let resolved: ResolvedModel;
let test: TestServer;
let client: OpenAI;
let memoryId: string;
let bufferTokens: number;

beforeAll(async () => {
  resolved = await loadTestModel();
  const bytes = await compileMemoryFile(resolved, CAT_STORY);
  test = await startTestServer(resolved, { apiKey: API_KEY });
  const uploaded = await requestJson<{ id: string; buffer_tokens: number }>(`${test.url}/v1/memories`, "POST", bytes, {
    authorization: `Bearer ${API_KEY}`,
  });
  expect(uploaded.status).toBe(201);
  memoryId = uploaded.body.id;
  bufferTokens = uploaded.body.buffer_tokens;
  client = new OpenAI({ apiKey: API_KEY, baseURL: `${test.url}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await test?.server.close();
});

/** Generates the engine's greedy text for the same prompt, memories and token limit. */
async function engineAnswer(prompt: string, maxTokens: number) {
  return test.server.engine.generate({ prompt, memories: [memoryId], maxTokens, temperature: 0 }).collect();
}

const PARAMS = (): MemoryChatParams => ({
  model: "stories260K",
  messages: [
    { role: "system", content: "A story about a cat." },
    { role: "user", content: "Mia and Snow" },
  ],
  max_tokens: 16,
  temperature: 0,
  memories: [memoryId],
});

describe("openai client", () => {
  it("lists the served model", async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toEqual(["stories260K"]);
    expect(models.data[0]?.owned_by).toBe("lcc");
    const model = await client.models.retrieve("stories260K");
    expect(model.id).toBe("stories260K");
  });

  it("gets a completion that reads a memory", async () => {
    const completion = await client.chat.completions.create(PARAMS());
    const reference = await engineAnswer("A story about a cat.\nMia and Snow", 16);

    expect(completion.object).toBe("chat.completion");
    expect(completion.id).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    expect(completion.model).toBe("stories260K");
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]?.message.role).toBe("assistant");
    expect(completion.choices[0]?.message.content).toBe(reference.text);
    expect(completion.choices[0]?.finish_reason).toBe(reference.finishReason);
    expect(completion.usage?.prompt_tokens).toBe(reference.promptTokens);
    expect(completion.usage?.completion_tokens).toBe(reference.completionTokens);
    expect(completion.usage?.total_tokens).toBe(reference.promptTokens + reference.completionTokens);
    expect((completion.usage as unknown as { memory_tokens: number }).memory_tokens).toBe(bufferTokens);
    expect(bufferTokens).toBeGreaterThan(0);
  });

  it("streams a completion that reads a memory", async () => {
    const stream = await client.chat.completions.create({ ...PARAMS(), stream: true, stream_options: { include_usage: true } });
    const reference = await engineAnswer("A story about a cat.\nMia and Snow", 16);

    let text = "";
    const ids = new Set<string>();
    const finishReasons: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      ids.add(chunk.id);
      expect(chunk.object).toBe("chat.completion.chunk");
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? "";
        finishReasons.push(choice.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }

    expect(text).toBe(reference.text);
    expect(ids.size).toBe(1);
    expect(chunks).toBeGreaterThan(2);
    expect(finishReasons.at(-1)).toBe(reference.finishReason);
    expect(finishReasons.slice(0, -1).every((reason) => reason === null)).toBe(true);
    expect(usage?.completion_tokens).toBe(reference.completionTokens);
    expect((usage as unknown as { memory_tokens: number }).memory_tokens).toBe(bufferTokens);
  });

  it("raises NotFoundError for an unknown memory", async () => {
    const unknown = "0".repeat(64);
    const error = await client.chat.completions
      .create({ ...PARAMS(), memories: [unknown] } as MemoryChatParams)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("memory_not_found");
    expect((error as Error).message).toMatch(new RegExp(`no memory with id ${unknown}`));
  });

  it("raises AuthenticationError for a wrong key", async () => {
    const wrong = new OpenAI({ apiKey: "sk-wrong", baseURL: `${test.url}/v1`, maxRetries: 0 });
    const error = await wrong.models.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe("invalid_api_key");
  });
});
