/**
 * Uploads over real sockets on 127.0.0.1. Uploads whose bodies are still arriving keep
 * their slots, and one more gets 429 in the API's error shape. A slot is freed when its
 * upload ends or its client disconnects. Without a memory folder, an uploaded memory that
 * was evicted from the cache is reported with what to do.
 */

import http from "node:http";
import type { ResolvedModel } from "@lcc/models";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveServerOptions } from "../options.js";
import {
  CAT_STORY,
  type ErrorBody,
  TRAIN_STORY,
  chatRequest,
  type TestServer,
  compileMemoryFile,
  loadTestModel,
  requestJson,
  startTestServer,
  waitFor,
} from "../test/fixtures.js";

let resolved: ResolvedModel;
let test: TestServer;
let memoryFile: Uint8Array;

beforeAll(async () => {
  resolved = await loadTestModel();
  memoryFile = await compileMemoryFile(resolved, CAT_STORY);
  test = await startTestServer(resolved, { limits: { maxConcurrentUploads: 2 } });
});

afterAll(async () => {
  await test?.server.close();
});

interface HeldUpload {
  /** Sends the rest of the body and resolves with the response's status and body. */
  finish(rest: Uint8Array): Promise<{ status: number; body: ErrorBody }>;
  /** Closes the connection before the body is complete. */
  abort(): void;
}

/** Starts an upload that announces `length` bytes and sends only `first`, a part of them. */
function holdUpload(length: number, first: Uint8Array): HeldUpload {
  const request = http.request({
    host: "127.0.0.1",
    port: new URL(test.url).port,
    path: "/v1/memories",
    method: "POST",
    headers: { "content-type": "application/octet-stream", "content-length": String(length) },
  });
  const response = new Promise<{ status: number; body: ErrorBody }>((resolve, reject) => {
    request.on("response", (incoming) => {
      let text = "";
      incoming.setEncoding("utf8").on("data", (chunk: string) => {
        text += chunk;
      });
      incoming.on("end", () => resolve({ status: incoming.statusCode ?? 0, body: JSON.parse(text) as ErrorBody }));
    });
    request.on("error", reject);
  });
  request.write(first);
  return {
    finish: (rest) => {
      request.end(rest);
      return response;
    },
    abort: () => {
      response.catch(() => undefined);
      request.destroy();
    },
  };
}

async function uploadsInProgress(): Promise<number> {
  const metrics = await (await fetch(`${test.url}/metrics`)).text();
  const line = metrics.split("\n").find((entry) => entry.startsWith("lcc_memory_uploads_in_progress "));
  return Number(line?.split(" ")[1]);
}

describe("concurrent uploads", () => {
  it("rejects an upload beyond the limit with 429", async () => {
    // Two uploads whose bodies are still arriving take both slots.
    const garbage = new Uint8Array(64 * 1024).fill(7);
    const first = holdUpload(garbage.byteLength, garbage.subarray(0, 1024));
    const second = holdUpload(garbage.byteLength, garbage.subarray(0, 1024));
    await waitFor(async () => (await uploadsInProgress()) === 2, 10_000, "two uploads in progress");

    const rejected = await requestJson<ErrorBody>(`${test.url}/v1/memories`, "POST", memoryFile);
    expect(rejected.status).toBe(429);
    expect(rejected.headers.get("retry-after")).toBe("1");
    expect(rejected.body.error).toEqual({
      message:
        "2 memory uploads are in progress, the maximum this server accepts at once (maxConcurrentUploads 2); retry when one has finished",
      type: "rate_limit_error",
      param: null,
      code: "too_many_uploads",
    });

    // A client that disconnects mid-body frees its slot.
    first.abort();
    await waitFor(async () => (await uploadsInProgress()) === 1, 10_000, "the aborted upload to free its slot");
    const accepted = await requestJson<{ id: string; object: string }>(`${test.url}/v1/memories`, "POST", memoryFile);
    expect(accepted.status).toBe(201);
    expect(accepted.body.object).toBe("memory");

    // An upload that completes frees its slot too, whatever its status.
    const finished = await second.finish(garbage.subarray(1024));
    expect(finished.status).toBe(400);
    expect(finished.body.error.code).toBe("invalid_memory");
    await waitFor(async () => (await uploadsInProgress()) === 0, 10_000, "no uploads in progress");
    const again = await requestJson<{ id: string }>(`${test.url}/v1/memories`, "POST", memoryFile);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(accepted.body.id);
  });

  it("validates the limit", () => {
    expect(() => resolveServerOptions({ model: "stories260K", limits: { maxConcurrentUploads: 0 } })).toThrow(
      /limits\.maxConcurrentUploads must be an integer ≥ 1, got 0/,
    );
  });
});

describe("evicted memories", () => {
  it("explains an evicted upload", async () => {
    // A cache with room for one memory and no folder to read an evicted one again from.
    const catFile = memoryFile;
    const trainFile = await compileMemoryFile(resolved, TRAIN_STORY);
    const sizing = await requestJson<{ bytes: number }>(`${test.url}/v1/memories`, "POST", catFile);
    const small = await startTestServer(resolved, { limits: { maxMemoryBytes: Math.ceil(sizing.body.bytes * 1.5) } });
    try {
      const cat = await requestJson<{ id: string }>(`${small.url}/v1/memories`, "POST", catFile);
      const train = await requestJson<{ id: string }>(`${small.url}/v1/memories`, "POST", trainFile);
      expect(cat.status).toBe(201);
      expect(train.status).toBe(201);

      const response = await requestJson<ErrorBody>(
        `${small.url}/v1/chat/completions`,
        "POST",
        chatRequest("Mia", { memories: [cat.body.id] }),
      );
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe("memory_not_found");
      expect(response.body.error.message).toBe(
        `the memory ${cat.body.id} was evicted from the memory cache and cannot be read again from a file; upload it again with POST /v1/memories (a server with a memory folder reads evicted memories from their files)`,
      );
    } finally {
      await small.server.close();
    }
  });
});
