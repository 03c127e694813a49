/**
 * A bounded load run on 127.0.0.1 (40 requests, 8 at a time): every request succeeds,
 * and the metrics count them. The full run (200 requests, 16 at a time) is
 * `pnpm --filter @lcc/server bench`.
 */

import type { ResolvedModel } from "@lcc/models";
import { InvalidArgumentError } from "@lcc/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAT_STORY, type TestServer, compileMemoryFile, loadTestModel, requestJson, startTestServer } from "../test/fixtures.js";
import { formatLoadMarkdown, percentile, runLoad } from "./load.js";

const PROMPTS = ["Once upon a time", "The little dog", "Mia saw a cat"];

let resolved: ResolvedModel;
let test: TestServer;
let memoryId: string;

beforeAll(async () => {
  resolved = await loadTestModel();
  test = await startTestServer(resolved, { logLevel: "warn", limits: { maxConcurrent: 4, maxQueued: 8 } });
  const uploaded = await requestJson<{ id: string }>(`${test.url}/v1/memories`, "POST", await compileMemoryFile(resolved, CAT_STORY));
  memoryId = uploaded.body.id;
});

afterAll(async () => {
  await test?.server.close();
});

describe("percentile", () => {
  it("uses the nearest rank", () => {
    const values = Array.from({ length: 10 }, (_, i) => (i + 1) * 10);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 90)).toBe(90);
    expect(percentile(values, 99)).toBe(100);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile(values, 0)).toThrow(InvalidArgumentError);
  });
});

describe("load run", () => {
  it("refuses targets other than loopback", async () => {
    await expect(
      runLoad({ url: "http://192.0.2.1:8080", model: "m", requests: 1, concurrency: 1, maxTokens: 1, prompts: ["x"] }),
    ).rejects.toThrow(/must point at a loopback address/);
  });

  it.each([false, true])("completes 40 requests 8 at a time without errors (stream %s)", async (stream) => {
    const before = await (await fetch(`${test.url}/metrics`)).text();
    const result = await runLoad({
      url: test.url,
      model: "stories260K",
      requests: 40,
      concurrency: 8,
      maxTokens: 8,
      prompts: PROMPTS,
      memories: [memoryId],
      stream,
    });

    expect(result.failures).toEqual([]);
    expect(result.succeeded).toBe(40);
    expect(result.latenciesMs).toHaveLength(40);
    expect(result.completionTokens).toBe(40 * 8);
    expect(result.p50Ms).toBeGreaterThan(0);
    expect(result.p50Ms).toBeLessThanOrEqual(result.p90Ms);
    expect(result.p90Ms).toBeLessThanOrEqual(result.p99Ms);
    expect(result.requestsPerSecond).toBeCloseTo(40 / result.wallSeconds, 6);

    const markdown = formatLoadMarkdown(result, { model: "stories260K", machine: "test machine", stream, memories: 1 });
    expect(markdown).toContain("| 40 | 8 | 0 |");

    // The server counted every request as a 200 and went back to idle.
    const count = (text: string) =>
      Number(/^lcc_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    const after = await (await fetch(`${test.url}/metrics`)).text();
    expect(count(after) - count(before)).toBe(40);
    expect(after).toMatch(/^lcc_queue_running 0$/m);
    expect(after).toMatch(/^lcc_queue_waiting 0$/m);
    expect(Number(/^lcc_completion_tokens_per_second (\S+)$/m.exec(after)?.[1])).toBeGreaterThan(0);
  });
});
