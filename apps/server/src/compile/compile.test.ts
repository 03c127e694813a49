/**
 * Compile jobs over HTTP on 127.0.0.1: submit, follow by events and by polling, read
 * the compiled memory in a chat completion, cancel, and reject invalid requests.
 */

import type { ResolvedModel } from "@lcc/models";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ErrorBody,
  TRAIN_STORY,
  type TestServer,
  chatRequest,
  loadTestModel,
  readEvents,
  requestJson,
  startTestServer,
  waitFor,
} from "../test/fixtures.js";
import type { CompileJobObject } from "./jobs.js";

let resolved: ResolvedModel;
let test: TestServer;

beforeAll(async () => {
  resolved = await loadTestModel();
  test = await startTestServer(resolved, { limits: { maxCompileJobs: 2, maxCompileTokens: 400, maxCompileSeconds: 60 } });
});

afterAll(async () => {
  await test?.server.close();
});

async function submit(text: string, options: Record<string, unknown>) {
  return requestJson<CompileJobObject & ErrorBody>(`${test.url}/v1/memories/compile`, "POST", { text, options });
}

describe("compile jobs", () => {
  it("compiles a memory that a chat completion then reads", async () => {
    const submitted = await submit(TRAIN_STORY, { steps: 3, queries: 2, seed: 1 });
    expect(submitted.status).toBe(202);
    const jobId = submitted.body.id;
    expect(jobId).toMatch(/^[0-9a-f]{32}$/);
    expect(submitted.headers.get("location")).toBe(`/v1/memories/compile/${jobId}`);
    expect(["queued", "running"]).toContain(submitted.body.status);
    const sourceTokens = resolved.tokenizer.encode(TRAIN_STORY, { addBos: false }).length;
    expect(submitted.body.source_tokens).toBe(sourceTokens);
    expect(submitted.body.options).toMatchObject({
      ratio: 16,
      steps: 3,
      queries: 2,
      seed: 1,
      max_seconds: 60,
      query_pool: "story-openings",
      dtype: "float16",
    });

    // Events: the current status first, progress of the teacher and of each step, the final status last.
    const response = await fetch(`${test.url}/v1/memories/compile/${jobId}/events`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const events = await readEvents(response);
    expect(events[0]?.event).toBe("status");
    const progress = events.filter((event) => event.event === "progress").map((event) => JSON.parse(event.data) as Record<string, unknown>);
    const steps = progress.filter((event) => event.phase === "step");
    expect(steps.map((event) => event.step)).toEqual([1, 2, 3]);
    expect(steps.every((event) => event.steps === 3 && typeof event.loss === "number" && Number.isFinite(event.loss))).toBe(true);
    expect(progress.filter((event) => event.phase === "teacher").at(-1)).toMatchObject({ done: 2, total: 2 });
    const last = events.at(-1);
    expect(last?.event).toBe("status");
    const finished = JSON.parse(last?.data ?? "{}") as CompileJobObject;
    expect(finished.status).toBe("succeeded");
    expect(finished.memory_id).toMatch(/^[0-9a-f]{64}$/);
    expect(finished.finished_at).not.toBeNull();

    // Polling returns the same result.
    const polled = await requestJson<CompileJobObject>(`${test.url}/v1/memories/compile/${jobId}`, "GET");
    expect(polled.status).toBe(200);
    expect(polled.body.status).toBe("succeeded");
    expect(polled.body.memory_id).toBe(finished.memory_id);
    expect(polled.body.progress).toMatchObject({ phase: "step", step: 3, steps: 3 });

    // The memory is listed, described, and read by a chat completion.
    const memoryId = finished.memory_id as string;
    const bufferTokens = Math.ceil(sourceTokens / 16);
    const listed = await requestJson<{ data: { id: string; buffer_tokens: number; source_tokens: number }[] }>(
      `${test.url}/v1/memories`,
      "GET",
    );
    expect(listed.body.data.find((memory) => memory.id === memoryId)).toMatchObject({
      buffer_tokens: bufferTokens,
      source_tokens: sourceTokens,
    });
    const described = await requestJson<Record<string, unknown>>(`${test.url}/v1/memories/${memoryId}`, "GET");
    expect(described.status).toBe(200);
    expect(described.body).toMatchObject({ id: memoryId, model: "stories260K", ratio: 16, segments: 1, provenance: { steps: 3 } });

    const completion = await requestJson<{ choices: { message: { content: string } }[]; usage: { memory_tokens: number } }>(
      `${test.url}/v1/chat/completions`,
      "POST",
      chatRequest("Tom and grandpa", { memories: [memoryId] }),
    );
    expect(completion.status).toBe(200);
    expect(completion.body.usage.memory_tokens).toBe(bufferTokens);
    const reference = await test.server.engine
      .generate({ prompt: "Tom and grandpa", memories: [memoryId], maxTokens: 12, temperature: 0 })
      .collect();
    expect(completion.body.choices[0]?.message.content).toBe(reference.text);
  });

  it("cancels jobs and bounds the compile queue", async () => {
    const running = await submit(TRAIN_STORY, { steps: 100000, queries: 0 });
    const queued = await submit(TRAIN_STORY, { steps: 3, queries: 0 });
    expect(running.status).toBe(202);
    expect(queued.status).toBe(202);
    expect(queued.body.status).toBe("queued");

    // A third job exceeds maxCompileJobs 2.
    const rejected = await submit(TRAIN_STORY, { steps: 3, queries: 0 });
    expect(rejected.status).toBe(429);
    expect(rejected.headers.get("retry-after")).toBe("10");
    expect(rejected.body.error).toMatchObject({ type: "rate_limit_error", code: "compile_queue_full" });

    // Cancelling the queued job is immediate; the running one stops at its next step.
    const cancelledQueued = await requestJson<CompileJobObject>(`${test.url}/v1/memories/compile/${queued.body.id}`, "DELETE");
    expect(cancelledQueued.body.status).toBe("cancelled");
    await waitFor(
      async () =>
        (await requestJson<CompileJobObject>(`${test.url}/v1/memories/compile/${running.body.id}`, "GET")).body.status === "running",
      10_000,
      "the job to run",
    );
    await requestJson(`${test.url}/v1/memories/compile/${running.body.id}`, "DELETE");
    await waitFor(
      async () =>
        (await requestJson<CompileJobObject>(`${test.url}/v1/memories/compile/${running.body.id}`, "GET")).body.status === "cancelled",
      10_000,
      "the job to stop",
    );

    // The event stream of a finished job sends its final status and ends.
    const events = await readEvents(await fetch(`${test.url}/v1/memories/compile/${running.body.id}/events`));
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]?.data ?? "{}")).toMatchObject({ status: "cancelled", memory_id: null });

    const metrics = await (await fetch(`${test.url}/metrics`)).text();
    expect(metrics).toMatch(/^lcc_compile_jobs\{state="cancelled"\} 2$/m);
    expect(metrics).toMatch(/^lcc_compile_jobs\{state="running"\} 0$/m);
  });

  it.each([
    ["an empty text", { text: "" }, "text", /text must be a non-empty string/],
    ["an unknown option", { text: TRAIN_STORY, options: { colour: "blue" } }, "options.colour", /unknown compile option "colour"/],
    [
      "an option named like an Object property",
      { text: TRAIN_STORY, options: { constructor: 1 } },
      "options.constructor",
      /unknown compile option "constructor"/,
    ],
    ["a ratio of 0", { text: TRAIN_STORY, options: { ratio: 0 } }, "options.ratio", /^options\.ratio must be a number ≥ 1, got 0$/],
    ["too many seconds", { text: TRAIN_STORY, options: { max_seconds: 61 } }, "options.max_seconds", /at most 60 seconds/],
    ["a query pool path", { text: TRAIN_STORY, options: { query_pool: "/etc/passwd" } }, "options.query_pool", /must be one of/],
    ["an unknown dtype", { text: TRAIN_STORY, options: { dtype: "float64" } }, "options.dtype", /must be one of float32/],
    ["a text beyond the token limit", { text: TRAIN_STORY.repeat(5) }, "text", /text has 770 tokens but this server compiles at most 400/],
    ["a text shorter than the ratio", { text: "Tom ran.", options: { ratio: 16 } }, "text", /fewer than the compression ratio 16/],
    [
      "a repeated LoRA target",
      { text: TRAIN_STORY, options: { lora_targets: ["q", "v", "q"] } },
      "options.lora_targets",
      /^options\.lora_targets lists q more than once/,
    ],
    [
      "a buffer_init token beyond the vocabulary",
      { text: TRAIN_STORY, options: { buffer_init: { token: 99999 } } },
      "options.buffer_init",
      /^options\.buffer_init\.token is 99999 but stories260K's vocabulary has 512 tokens \(ids 0 to 511\); pick a token id below 512$/,
    ],
    [
      "answers longer than the window",
      { text: TRAIN_STORY, options: { answer_tokens: 100000, queries: 2 } },
      "options.answer_tokens",
      /^options\.answer_tokens is 100000, .* not even a one-token segment fits stories260K's context window of 512; lower options\.answer_tokens to at most 500$/,
    ],
    [
      "a segment too long for its answers",
      { text: TRAIN_STORY, options: { ratio: 1, answer_tokens: 300, queries: 2 } },
      "options.segment_tokens",
      /^a segment of 154 tokens, its BOS, its 154 buffer tokens and a 308-token query and answer need 618 positions, but stories260K's context window is 512; set options\.segment_tokens to at most 102,/,
    ],
    [
      "a memory that leaves no room for a prompt",
      { text: TRAIN_STORY.repeat(2), options: { ratio: 1, queries: 0 } },
      "text",
      /^the memory of this text would take positions 256 to 563, so a prompt that reads it would start at position 564, beyond the last position 511 of stories260K's context window; send at most 255 tokens at options\.ratio 1,/,
    ],
  ])("rejects %s before queueing", async (_case, body, param, message) => {
    const response = await requestJson<ErrorBody>(`${test.url}/v1/memories/compile`, "POST", body);
    expect(response.status).toBe(400);
    expect(response.body.error.type).toBe("invalid_request_error");
    expect(response.body.error.code).toBe("invalid_value");
    expect(response.body.error.param).toBe(param);
    expect(response.body.error.message).toMatch(message);
    // Messages name the API's options, never the CLI's flags.
    expect(response.body.error.message).not.toMatch(/--[a-z]/);
  });

  it("reports every problem in one response", async () => {
    const jobsBefore = (await requestJson<{ data: CompileJobObject[] }>(`${test.url}/v1/memories/compile`, "GET")).body.data.length;
    const response = await submit(TRAIN_STORY, { lora_targets: ["k", "k"], buffer_init: { token: 512 }, answer_tokens: 100000 });
    expect(response.status).toBe(400);
    expect(response.body.error.param).toBe("options.lora_targets");
    const lines = response.body.error.message.split("\n");
    expect(lines[0]).toBe("invalid compile request:");
    expect(lines.slice(1).map((line) => line.match(/^ {2}- (options\.[a-z_.]+)/)?.[1])).toEqual([
      "options.lora_targets",
      "options.buffer_init.token",
      "options.answer_tokens",
    ]);
    // No job was created.
    const jobsAfter = (await requestJson<{ data: CompileJobObject[] }>(`${test.url}/v1/memories/compile`, "GET")).body.data.length;
    expect(jobsAfter).toBe(jobsBefore);
  });

  it("accepts the largest segment that fits", async () => {
    // The bound the rejection above suggests: 102 compiles, 103 is rejected before queueing.
    const options = { ratio: 1, answer_tokens: 300, queries: 2, steps: 1 };
    const tooLong = await submit(TRAIN_STORY, { ...options, segment_tokens: 103 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toMatch(/need 514 positions, .* set options\.segment_tokens to at most 102,/);

    const submitted = await submit(TRAIN_STORY, { ...options, segment_tokens: 102 });
    expect(submitted.status).toBe(202);
    const events = await readEvents(await fetch(`${test.url}/v1/memories/compile/${submitted.body.id}/events`));
    const finished = JSON.parse(events.at(-1)?.data ?? "{}") as CompileJobObject;
    expect(finished.status).toBe("succeeded");
    expect(finished.progress).toMatchObject({ phase: "step", segment: 1, segments: 2 });
  });

  it("fails a diverging job with compile_diverged", async () => {
    const submitted = await submit(TRAIN_STORY, { steps: 5, queries: 0, learning_rate: 1e30, clip_norm: 0 });
    expect(submitted.status).toBe(202);
    const events = await readEvents(await fetch(`${test.url}/v1/memories/compile/${submitted.body.id}/events`));
    const finished = JSON.parse(events.at(-1)?.data ?? "{}") as CompileJobObject;
    expect(finished.status).toBe("failed");
    expect(finished.memory_id).toBeNull();
    expect(finished.error).toMatchObject({ type: "invalid_request_error", code: "compile_diverged", param: "options.learning_rate" });
    expect(finished.error?.message).toMatch(/^the training loss stopped being finite at step [2-5] \(/);
    expect(finished.error?.message).toMatch(/retry with a lower options\.learning_rate, or with options\.clip_norm 1$/);
    expect(finished.error?.message).not.toMatch(/--[a-z]/);
    const logged = test.logs.records().find((entry) => entry.jobId === submitted.body.id && entry.msg === "compile job failed");
    expect(logged?.level).toBe(40);
  });

  it("lists compile jobs newest first", async () => {
    const listed = await requestJson<{ object: string; data: CompileJobObject[] }>(`${test.url}/v1/memories/compile`, "GET");
    expect(listed.status).toBe(200);
    expect(listed.body.object).toBe("list");
    expect(listed.body.data.length).toBeGreaterThanOrEqual(3);
    expect(listed.body.data.every((job) => job.object === "memory.compile_job" && /^[0-9a-f]{32}$/.test(job.id))).toBe(true);
    const created = listed.body.data.map((job) => job.created_at);
    expect(created).toEqual([...created].sort((a, b) => b - a));
    expect(listed.body.data[0]?.status).toBe("failed");

    const deleted = await requestJson<ErrorBody>(`${test.url}/v1/memories/compile`, "DELETE");
    expect(deleted.status).toBe(405);
    expect(deleted.headers.get("allow")).toBe("GET, POST");
    expect(deleted.body.error).toMatchObject({ type: "invalid_request_error", code: "method_not_allowed" });
    expect(deleted.body.error.message).toMatch(/DELETE \/v1\/memories\/compile\/\{job\}/);
  });

  it("validates job ids", async () => {
    const traversal = await requestJson<ErrorBody>(`${test.url}/v1/memories/compile/..%2F..%2Fetc%2Fpasswd`, "GET");
    expect(traversal.status).toBe(400);
    expect(traversal.body.error.code).toBe("invalid_job_id");
    const unknown = await requestJson<ErrorBody>(`${test.url}/v1/memories/compile/${"0".repeat(32)}`, "GET");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("job_not_found");
    const unknownEvents = await requestJson<ErrorBody>(`${test.url}/v1/memories/compile/${"0".repeat(32)}/events`, "GET");
    expect(unknownEvents.status).toBe(404);
  });
});
