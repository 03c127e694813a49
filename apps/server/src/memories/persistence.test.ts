/**
 * The memory folder: memories uploaded or compiled over HTTP are written as <id>.lccm,
 * survive a restart, and deleting one removes its file.
 */

import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ResolvedModel } from "@lcc/models";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CompileJobObject } from "../compile/jobs.js";
import {
  CAT_STORY,
  TRAIN_STORY,
  type TestServer,
  chatRequest,
  compileMemoryFile,
  loadTestModel,
  requestJson,
  startTestServer,
  waitFor,
} from "../test/fixtures.js";

let resolved: ResolvedModel;
let folder: string;
let uploadedBytes: Uint8Array;

beforeAll(async () => {
  resolved = await loadTestModel();
  folder = await mkdtemp(path.join(os.tmpdir(), "lcc-server-memories-"));
  uploadedBytes = await compileMemoryFile(resolved, CAT_STORY, "float16");
});

afterAll(async () => {
  if (folder) await rm(folder, { recursive: true, force: true });
});

async function completionText(url: string, memoryId: string): Promise<string> {
  const response = await requestJson<{ choices: { message: { content: string } }[] }>(
    `${url}/v1/chat/completions`,
    "POST",
    chatRequest("Mia and Snow", { memories: [memoryId] }),
  );
  expect(response.status).toBe(200);
  return response.body.choices[0]?.message.content as string;
}

async function listedIds(url: string): Promise<string[]> {
  const response = await requestJson<{ data: { id: string; persisted: boolean }[] }>(`${url}/v1/memories`, "GET");
  expect(response.body.data.every((memory) => memory.persisted)).toBe(true);
  return response.body.data.map((memory) => memory.id);
}

describe("memory folder", () => {
  it("keeps memories across restarts", async () => {
    // First run: upload one memory (twice) and compile another.
    let test: TestServer = await startTestServer(resolved, { memoryDir: folder });
    const first = await requestJson<{ id: string }>(`${test.url}/v1/memories`, "POST", uploadedBytes);
    expect(first.status).toBe(201);
    const again = await requestJson<{ id: string }>(`${test.url}/v1/memories`, "POST", uploadedBytes);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const uploadedId = first.body.id;

    const job = await requestJson<CompileJobObject>(`${test.url}/v1/memories/compile`, "POST", {
      text: TRAIN_STORY,
      options: { steps: 2, queries: 0 },
    });
    let compiledId = "";
    await waitFor(
      async () => {
        const state = await requestJson<CompileJobObject>(`${test.url}/v1/memories/compile/${job.body.id}`, "GET");
        compiledId = state.body.memory_id ?? "";
        return state.body.status === "succeeded";
      },
      20_000,
      "the compile job",
    );
    const textBefore = await completionText(test.url, uploadedId);
    await test.server.close();

    // The folder contains exactly the two memory files, and the uploaded one is stored byte for byte.
    expect((await readdir(folder)).sort()).toEqual([`${compiledId}.lccm`, `${uploadedId}.lccm`].sort());
    expect(new Uint8Array(await readFile(path.join(folder, `${uploadedId}.lccm`)))).toEqual(uploadedBytes);

    // Leftovers a crash or a person could leave: a temporary file, a stray file, a corrupt memory file.
    const temporary = `.${uploadedId}.lccm.0123456789ab.tmp`;
    await writeFile(path.join(folder, temporary), "partial");
    await writeFile(path.join(folder, "notes.txt"), "not a memory");
    const corruptId = "0".repeat(64);
    await writeFile(path.join(folder, `${corruptId}.lccm`), "corrupt");

    // Second run: both memories are back and generate the same text, and the leftovers are handled.
    test = await startTestServer(resolved, { memoryDir: folder });
    expect(await listedIds(test.url)).toEqual([compiledId, uploadedId].sort());
    expect(await completionText(test.url, uploadedId)).toBe(textBefore);
    const files = await readdir(folder);
    expect(files).not.toContain(temporary);
    expect(files).toContain("notes.txt");
    const skipped = test.logs.records().find((entry) => entry.msg === "skipped a memory file that could not be loaded");
    expect(skipped?.file).toBe(path.join(folder, `${corruptId}.lccm`));
    expect(test.logs.records().find((entry) => entry.msg === "memory folder loaded")).toMatchObject({ loaded: 2, skipped: 1 });

    // Deleting removes the file; a third run no longer has the memory.
    const deleted = await requestJson(`${test.url}/v1/memories/${uploadedId}`, "DELETE");
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: uploadedId, object: "memory.deleted", deleted: true });
    const deletedAgain = await requestJson(`${test.url}/v1/memories/${uploadedId}`, "DELETE");
    expect(deletedAgain.status).toBe(404);
    expect(await readdir(folder)).not.toContain(`${uploadedId}.lccm`);
    await test.server.close();

    test = await startTestServer(resolved, { memoryDir: folder });
    expect(await listedIds(test.url)).toEqual([compiledId]);
    const gone = await requestJson(`${test.url}/v1/chat/completions`, "POST", chatRequest("Mia", { memories: [uploadedId] }));
    expect(gone.status).toBe(404);
    await test.server.close();
  });
});
