import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { convertToHfFolder } from "../convert.js";
import { UnsupportedModelError } from "../errors.js";
import { generateTokens } from "../generation/generate.js";
import { LanguageModel } from "../generation/language-model.js";
import { type ResolvedModel, loadModel } from "../load.js";
import { readSafetensors } from "../safetensors/read.js";
import { writeShardedSafetensors } from "../safetensors/sharded.js";
import { TestHub } from "../test/hub-server.js";
import { sharedPath } from "../test/shared.js";
import type { PullProgressEvent } from "./download.js";
import {
  ChecksumMismatchError,
  DownloadError,
  DownloadTimeoutError,
  HubAuthError,
  HubNotFoundError,
  ModelReferenceError,
} from "./errors.js";
import { KNOWN_MODELS } from "./known-models.js";
import { MANIFEST_FILE, type ModelManifest, listCachedModels } from "./manifest.js";
import { findCachedModel, pullModel } from "./pull.js";
import { parseModelReference } from "./reference.js";

const TINYLLAMAS = "karpathy/tinyllamas";
const HF_REPO = "lcc-test/stories260K-hf";

interface Fixtures {
  checkpoint: Buffer;
  tokenizer: Buffer;
  /** Files of the checkpoint converted into a Hugging Face folder. */
  hfFiles: Map<string, Buffer>;
  /** The same weights as shards plus their index. */
  shardFiles: Map<string, Buffer>;
  greedyIds: number[];
}

let fixtures: Fixtures;
let hub: TestHub;
let cacheDir: string;

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

async function filesOf(folder: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of await readdir(folder)) files.set(name, await readFile(path.join(folder, name)));
  return files;
}

/** Greedy token ids after BOS. */
async function greedyIds(resolved: ResolvedModel, count: number): Promise<number[]> {
  const model = new LanguageModel(resolved.model, { cacheDir: null, threads: 1 });
  const ids: number[] = [];
  for await (const token of generateTokens(model, [resolved.model.config.bosTokenId], { maxTokens: count, stopTokenIds: [] }))
    ids.push(token.id);
  await model.dispose();
  return ids;
}

function serveTinyllamas(): void {
  hub.addFile(TINYLLAMAS, "main", "stories260K/stories260K.bin", fixtures.checkpoint, true);
  hub.addFile(TINYLLAMAS, "main", "stories260K/tok512.bin", fixtures.tokenizer, true);
}

function serveHfRepo(files: Map<string, Buffer>, repo = HF_REPO, revision = "main"): void {
  for (const [name, bytes] of files) hub.addFile(repo, revision, name, bytes, name.endsWith(".safetensors"));
}

async function manifestOf(folder: string): Promise<ModelManifest> {
  return JSON.parse(await readFile(path.join(folder, MANIFEST_FILE), "utf8")) as ModelManifest;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  const modelFolder = sharedPath("models", "stories260K");
  const golden = JSON.parse(await readFile(sharedPath("cases", "stories260K-golden.json"), "utf8")) as {
    greedy_from_BOS_first32: number[];
  };
  const source = await loadModel(modelFolder);
  const hfFolder = await mkdtemp(path.join(os.tmpdir(), "lcc-hub-hf-"));
  await convertToHfFolder(source, hfFolder);
  const hfFiles = await filesOf(hfFolder);

  const shardFolder = await mkdtemp(path.join(os.tmpdir(), "lcc-hub-shards-"));
  await writeShardedSafetensors(shardFolder, await readSafetensors(path.join(hfFolder, "model.safetensors")), { maxShardBytes: 400_000 });
  const shardFiles = await filesOf(shardFolder);
  for (const name of ["config.json", "tokenizer.json", "tokenizer_config.json"]) shardFiles.set(name, hfFiles.get(name) as Buffer);

  fixtures = {
    checkpoint: await readFile(path.join(modelFolder, "stories260K.bin")),
    tokenizer: await readFile(path.join(modelFolder, "tok512.bin")),
    hfFiles,
    shardFiles,
    greedyIds: golden.greedy_from_BOS_first32,
  };
});

beforeEach(async () => {
  hub = await new TestHub().start();
  cacheDir = await mkdtemp(path.join(os.tmpdir(), "lcc-hub-cache-"));
});

afterEach(async () => {
  await hub.stop();
});

describe("known model registry", () => {
  it("pins the files of the shared stories260K copy", () => {
    const known = KNOWN_MODELS.get("stories260K");
    expect(known?.repo).toBe(TINYLLAMAS);
    expect(known?.files.map((file) => [file.remotePath, file.size, file.sha256])).toEqual([
      ["stories260K/stories260K.bin", fixtures.checkpoint.length, sha256(fixtures.checkpoint)],
      ["stories260K/tok512.bin", fixtures.tokenizer.length, sha256(fixtures.tokenizer)],
    ]);
  });
});

describe("parseModelReference", () => {
  it("maps names and hub ids onto cache folders", () => {
    expect(parseModelReference("stories260K")).toMatchObject({ kind: "known", repo: TINYLLAMAS, folder: "stories260K" });
    expect(parseModelReference("owner/model")).toMatchObject({
      kind: "hub",
      name: "owner/model",
      revision: "main",
      folder: path.join("owner", "model"),
    });
    expect(parseModelReference("owner/model@v1.0")).toMatchObject({
      name: "owner/model@v1.0",
      revision: "v1.0",
      folder: path.join("owner", "model@v1.0"),
    });
    expect(parseModelReference("owner/model", "dev")).toMatchObject({ name: "owner/model@dev", revision: "dev" });
  });

  it("returns null for paths and plain names", () => {
    for (const text of ["no-such-model", "./owner/model", "/abs/path", "a/b/c", "../x", "owner/..", ""])
      expect(parseModelReference(text)).toBeNull();
  });

  it("rejects conflicting or invalid revisions", () => {
    expect(() => parseModelReference("owner/model@v1", "v2")).toThrow(ModelReferenceError);
    expect(() => parseModelReference("owner/model@v1", "v2")).toThrow(/names revision v1 but --revision is v2/);
    expect(() => parseModelReference("owner/model@a/b")).toThrow(/invalid revision "a\/b" in "owner\/model@a\/b"/);
    expect(() => parseModelReference("owner/model", "../x")).toThrow(/invalid revision "..\/x"/);
    expect(() => parseModelReference("stories260K", "dev")).toThrow(/pinned to revision main of karpathy\/tinyllamas/);
  });
});

describe("pullModel of a known model", () => {
  it("downloads, verifies and loads stories260K by name", async () => {
    serveTinyllamas();
    const events: PullProgressEvent[] = [];
    const pulled = await pullModel("stories260K", { cacheDir, hubUrl: hub.url, onProgress: (event) => events.push(event) });

    expect(pulled.path).toBe(path.join(cacheDir, "models", "stories260K"));
    expect(pulled.downloadedBytes).toBe(fixtures.checkpoint.length + fixtures.tokenizer.length);
    expect((await readdir(pulled.path)).sort()).toEqual([MANIFEST_FILE, "stories260K.bin", "tok512.bin"]);
    expect(sha256(await readFile(path.join(pulled.path, "stories260K.bin")))).toBe(sha256(fixtures.checkpoint));
    const manifest = await manifestOf(pulled.path);
    expect(manifest.status).toBe("complete");
    expect(manifest.commit).toBe("c0ffee0000000000000000000000000000000000");
    expect(manifest.files.map((file) => [file.path, file.verifiedBy])).toEqual([
      ["stories260K.bin", "pinned-sha256"],
      ["tok512.bin", "pinned-sha256"],
    ]);

    // Progress: every file starts, reaches its full size and finishes.
    expect(events.filter((event) => event.type === "file-start").map((event) => event.file)).toEqual(["stories260K.bin", "tok512.bin"]);
    const lastBytes = events.filter((event) => event.type === "bytes" && event.file === "stories260K.bin").at(-1);
    expect(lastBytes).toEqual({ type: "bytes", file: "stories260K.bin", bytesDone: 1_056_540, totalBytes: 1_056_540 });
    expect(events.filter((event) => event.type === "file-done").map((event) => event.type === "file-done" && event.sha256)).toEqual([
      sha256(fixtures.checkpoint),
      sha256(fixtures.tokenizer),
    ]);

    // The files came through the hub's redirect to the storage host.
    expect(hub.requestsFor("stories260K.bin").map((request) => request.server)).toEqual(["hub", "storage"]);

    // loadModel finds the cached copy by name, offline, and it generates the reference text.
    const resolved = await loadModel("stories260K", { cacheDir, modelsDir: "", offline: true });
    expect(resolved.path).toBe(path.join(pulled.path, "stories260K.bin"));
    expect(await greedyIds(resolved, 12)).toEqual(fixtures.greedyIds.slice(0, 12));
  });

  it("does nothing when the model is already cached", async () => {
    serveTinyllamas();
    await pullModel("stories260K", { cacheDir, hubUrl: hub.url });
    const requestsBefore = hub.requests.length;
    const again = await pullModel("stories260K", { cacheDir, hubUrl: hub.url });
    expect(again.downloadedBytes).toBe(0);
    expect(hub.requests.length).toBe(requestsBefore);
    expect(await findCachedModel("stories260K", { cacheDir })).toBe(again.path);
  });

  it("resumes an interrupted download with a range request", async () => {
    const key = hub.addFile(TINYLLAMAS, "main", "stories260K/stories260K.bin", fixtures.checkpoint, true);
    hub.addFile(TINYLLAMAS, "main", "stories260K/tok512.bin", fixtures.tokenizer, true);
    hub.cutAfter.set(key, [300_000]);

    // First pull: the connection breaks and no retry is allowed.
    const folder = path.join(cacheDir, "models", "stories260K");
    const failed = await pullModel("stories260K", { cacheDir, hubUrl: hub.url, retries: 0 }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(DownloadError);
    expect((failed as Error).name).toBe("DownloadError");
    expect((failed as Error).message).toMatch(
      /stories260K\.bin .*failed .*\(attempt 1 of 1\); 300000 bytes are kept in .*stories260K\.bin\.part/,
    );
    expect((await stat(path.join(folder, "stories260K.bin.part"))).size).toBe(300_000);
    expect(await exists(path.join(folder, "stories260K.bin"))).toBe(false);
    expect((await manifestOf(folder)).status).toBe("incomplete");
    expect(await findCachedModel("stories260K", { cacheDir })).toBeNull();
    expect((await listCachedModels({ cacheDir })).map((model) => [model.name, model.complete])).toEqual([["stories260K", false]]);

    // Second pull: resumes at byte 300000 and completes with the right hash.
    const pulled = await pullModel("stories260K", { cacheDir, hubUrl: hub.url, retries: 0 });
    const storageRequests = hub.requestsFor("stories260K.bin").filter((request) => request.server === "storage");
    expect(storageRequests.map((request) => request.range)).toEqual([null, "bytes=300000-"]);
    expect(pulled.downloadedBytes).toBe(fixtures.checkpoint.length + fixtures.tokenizer.length);
    expect(sha256(await readFile(path.join(folder, "stories260K.bin")))).toBe(sha256(fixtures.checkpoint));
    expect(await exists(path.join(folder, "stories260K.bin.part"))).toBe(false);
    expect((await manifestOf(folder)).status).toBe("complete");
  });

  it("retries within one pull and restarts when ranges are ignored", async () => {
    const key = hub.addFile(TINYLLAMAS, "main", "stories260K/stories260K.bin", fixtures.checkpoint, true);
    hub.addFile(TINYLLAMAS, "main", "stories260K/tok512.bin", fixtures.tokenizer, true);
    hub.cutAfter.set(key, [100_000, 50_000]);
    hub.rangeSupport = false;

    const events: PullProgressEvent[] = [];
    const pulled = await pullModel("stories260K", {
      cacheDir,
      hubUrl: hub.url,
      retries: 2,
      retryDelayMs: 0,
      onProgress: (event) => events.push(event),
    });
    const retries = events.flatMap((event) => (event.type === "retry" ? [event] : []));
    expect(retries.map((event) => [event.attempt, event.maxAttempts])).toEqual([
      [2, 3],
      [3, 3],
    ]);
    // The server cuts the connection after 100,000 and then 50,000 bytes. Bytes in flight
    // when a socket is cut can be lost, so each attempt resumes from at most that many.
    const resumedFrom = retries.map((event) => event.resumeFrom);
    expect(resumedFrom[0]).toBeLessThanOrEqual(100_000);
    expect(resumedFrom[1]).toBeLessThanOrEqual(50_000);
    // The server returned the whole file for each range request, so each attempt started over.
    const storageRequests = hub.requestsFor("stories260K.bin").filter((request) => request.server === "storage");
    const expectedRanges = [null, ...resumedFrom.map((offset) => (offset > 0 ? `bytes=${offset}-` : null))];
    expect(storageRequests.map((request) => request.range)).toEqual(expectedRanges);
    expect(sha256(await readFile(path.join(pulled.path, "stories260K.bin")))).toBe(sha256(fixtures.checkpoint));
  });

  it("deletes a corrupted download and raises ChecksumMismatchError", async () => {
    const key = hub.addFile(TINYLLAMAS, "main", "stories260K/stories260K.bin", fixtures.checkpoint, true);
    hub.addFile(TINYLLAMAS, "main", "stories260K/tok512.bin", fixtures.tokenizer, true);
    hub.corrupted.add(key);

    const error = await pullModel("stories260K", { cacheDir, hubUrl: hub.url }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect((error as Error).name).toBe("ChecksumMismatchError");
    expect((error as Error).message).toContain(
      `the download of stories260K.bin is corrupted: its sha256 is ${sha256(corrupt(fixtures.checkpoint))}`,
    );
    expect((error as Error).message).toContain(
      `but ${sha256(fixtures.checkpoint)} was expected; the file was deleted\nhint: run the pull again`,
    );
    const folder = path.join(cacheDir, "models", "stories260K");
    expect(await exists(path.join(folder, "stories260K.bin"))).toBe(false);
    expect(await exists(path.join(folder, "stories260K.bin.part"))).toBe(false);
    // A corrupted file is not retried: the same bytes would come back.
    expect(hub.requestsFor("stories260K.bin").filter((request) => request.server === "storage")).toHaveLength(1);
  });

  it("rejects a pinned hash the hub contradicts", async () => {
    const key = hub.addFile(TINYLLAMAS, "main", "stories260K/stories260K.bin", fixtures.checkpoint, true);
    hub.wrongAnnouncedSha.add(key);
    await expect(pullModel("stories260K", { cacheDir, hubUrl: hub.url })).rejects.toThrow(
      /stories260K\.bin is corrupted: the hub announces sha256 0{64}, but lcc pins b0a507e7/,
    );
  });

  it("reports a missing file as HubNotFoundError", async () => {
    const error = await pullModel("stories260K", { cacheDir, hubUrl: hub.url }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(HubNotFoundError);
    expect((error as Error).message).toContain(
      `stories260K.bin (${hub.url}/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin) was not found (HTTP 404 EntryNotFound: Entry not found`,
    );
    expect((error as Error).message).toContain("hint: check the model name, the revision and the hub URL (LCC_HUB_URL)");
    // A 404 is final: one request, no retries.
    expect(hub.requests).toHaveLength(1);
  });

  it("times out a stalled server", async () => {
    const key = hub.addFile(TINYLLAMAS, "main", "stories260K/stories260K.bin", fixtures.checkpoint, true);
    hub.stalled.add(key);
    const started = Date.now();
    const error = await pullModel("stories260K", { cacheDir, hubUrl: hub.url, timeoutMs: 200, retries: 0 }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(DownloadTimeoutError);
    expect((error as Error).message).toMatch(/the download of stories260K\.bin timed out: no data arrived for 200 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("cancels through an AbortSignal and keeps the partial file", async () => {
    const key = hub.addFile(TINYLLAMAS, "main", "stories260K/stories260K.bin", fixtures.checkpoint, true);
    hub.stalled.add(key);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await pullModel("stories260K", { cacheDir, hubUrl: hub.url, signal: controller.signal }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect((error as Error).name).toBe("DownloadAbortedError");
    expect((error as Error).message).toMatch(/the download of stories260K\.bin was cancelled/);
  });
});

/** Returns the bytes that the test hub serves for a corrupted file. */
function corrupt(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[copy.length >> 1] = (copy[copy.length >> 1] as number) ^ 0xff;
  return copy;
}

describe("pullModel of a hub id", () => {
  it("downloads a Hugging Face folder and verifies the weights against X-Linked-Etag", async () => {
    serveHfRepo(fixtures.hfFiles);
    const pulled = await pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, token: "secret-token" });
    expect(pulled.path).toBe(path.join(cacheDir, "models", "lcc-test", "stories260K-hf"));
    const manifest = await manifestOf(pulled.path);
    expect(manifest.files.map((file) => [file.path, file.verifiedBy])).toEqual([
      ["config.json", "size-only"],
      ["tokenizer.json", "size-only"],
      ["tokenizer_config.json", "size-only"],
      ["model.safetensors", "hub-sha256"],
    ]);
    for (const file of manifest.files) expect(file.sha256).toBe(sha256(fixtures.hfFiles.get(file.path) as Buffer));

    // The token goes to the hub only, never to the storage host it redirects to.
    const weights = hub.requestsFor("model.safetensors");
    expect(weights.map((request) => [request.server, request.authorization])).toEqual([
      ["hub", "Bearer secret-token"],
      ["storage", null],
    ]);

    const resolved = await loadModel(HF_REPO, { cacheDir, modelsDir: "", offline: true });
    expect(resolved.format).toBe("huggingface");
    expect(await greedyIds(resolved, 8)).toEqual(fixtures.greedyIds.slice(0, 8));
  });

  it("downloads the shards listed by a safetensors index", async () => {
    serveHfRepo(fixtures.shardFiles, HF_REPO, "v2");
    const shardNames = [...fixtures.shardFiles.keys()].filter((name) => /^model-\d+-of-\d+\.safetensors$/.test(name)).sort();
    expect(shardNames.length).toBeGreaterThan(1);

    const pulled = await pullModel(`${HF_REPO}@v2`, { cacheDir, hubUrl: hub.url });
    expect(pulled.name).toBe(`${HF_REPO}@v2`);
    expect(pulled.path).toBe(path.join(cacheDir, "models", "lcc-test", "stories260K-hf@v2"));
    expect(pulled.files.map((file) => file.path)).toEqual([
      "config.json",
      "tokenizer.json",
      "tokenizer_config.json",
      "model.safetensors.index.json",
      ...shardNames,
    ]);
    expect(hub.requestsFor("/resolve/v2/model.safetensors").length).toBeGreaterThan(0);

    const resolved = await loadModel(`${HF_REPO}@v2`, { cacheDir, modelsDir: "", offline: true });
    expect(await greedyIds(resolved, 8)).toEqual(fixtures.greedyIds.slice(0, 8));
  });

  it("resumes interrupted weights and keeps finished files", async () => {
    serveHfRepo(fixtures.hfFiles);
    hub.cutAfter.set(`${HF_REPO}/main/model.safetensors`, [200_000]);
    await expect(pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, retries: 0 })).rejects.toThrow(DownloadError);

    const pulled = await pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, retries: 0 });
    const storageRanges = hub
      .requestsFor("model.safetensors")
      .filter((request) => request.server === "storage")
      .map((request) => request.range);
    expect(storageRanges).toEqual([null, "bytes=200000-"]);
    // Files that the first pull finished are not requested again.
    expect(hub.requestsFor("/main/config.json")).toHaveLength(1);
    expect(hub.requestsFor("/main/tokenizer.json")).toHaveLength(1);
    expect(pulled.files.map((file) => [file.path, file.verifiedBy])).toEqual([
      ["config.json", "previous-pull"],
      ["tokenizer.json", "previous-pull"],
      ["tokenizer_config.json", "previous-pull"],
      ["model.safetensors", "hub-sha256"],
    ]);
    expect(pulled.files.find((file) => file.path === "model.safetensors")?.sha256).toBe(
      sha256(fixtures.hfFiles.get("model.safetensors") as Buffer),
    );
  });

  it("deletes weights whose sha256 differs from X-Linked-Etag", async () => {
    serveHfRepo(fixtures.hfFiles);
    hub.corrupted.add(`${HF_REPO}/main/model.safetensors`);
    await expect(pullModel(HF_REPO, { cacheDir, hubUrl: hub.url })).rejects.toThrow(ChecksumMismatchError);
    const folder = path.join(cacheDir, "models", "lcc-test", "stories260K-hf");
    expect((await readdir(folder)).sort()).toEqual(["config.json", MANIFEST_FILE, "tokenizer.json", "tokenizer_config.json"]);
  });

  it("reports a repository without safetensors weights", async () => {
    const files = new Map(fixtures.hfFiles);
    files.delete("model.safetensors");
    serveHfRepo(files);
    await expect(pullModel(HF_REPO, { cacheDir, hubUrl: hub.url })).rejects.toThrow(
      /lcc-test\/stories260K-hf at revision main has neither model\.safetensors nor model\.safetensors\.index\.json\nhint: lcc reads safetensors weights only/,
    );
  });

  it("rejects an unsupported architecture before fetching weights", async () => {
    const files = new Map(fixtures.hfFiles);
    const config = JSON.parse((files.get("config.json") as Buffer).toString("utf8")) as Record<string, unknown>;
    files.set("config.json", Buffer.from(JSON.stringify({ ...config, architectures: ["GPT2LMHeadModel"], model_type: "gpt2" })));
    serveHfRepo(files);
    await expect(pullModel(HF_REPO, { cacheDir, hubUrl: hub.url })).rejects.toThrow(UnsupportedModelError);
    expect(hub.requestsFor("model.safetensors")).toHaveLength(0);
    expect(await exists(path.join(cacheDir, "models", "lcc-test", "stories260K-hf"))).toBe(false);
  });

  it("reports a missing repository and a rejected token", async () => {
    const missing = await pullModel("nobody/nothing", { cacheDir, hubUrl: hub.url }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(missing).toBeInstanceOf(HubNotFoundError);
    expect((missing as Error).message).toMatch(
      /^config\.json \(http:\/\/127\.0\.0\.1:\d+\/nobody\/nothing\/resolve\/main\/config\.json\) was not found \(HTTP 404/,
    );

    hub.forcedStatus = 401;
    const unauthorized = await pullModel("private/model", { cacheDir, hubUrl: hub.url }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(unauthorized).toBeInstanceOf(HubAuthError);
    expect((unauthorized as Error).message).toContain("HTTP 401 RepoNotFound: Repository not found");
    expect((unauthorized as Error).message).toContain("set HF_TOKEN to a token with access");
  });

  it("rejects names that are neither known nor hub ids", async () => {
    await expect(pullModel("no-such-model", { cacheDir, hubUrl: hub.url })).rejects.toThrow(ModelReferenceError);
    await expect(pullModel("no-such-model", { cacheDir, hubUrl: hub.url })).rejects.toThrow(
      /"no-such-model" is neither a known model \("stories260K"\) nor a hub id/,
    );
    await expect(pullModel("stories260K", { cacheDir, hubUrl: "ftp://example" })).rejects.toThrow(/must use http or https/);
    await expect(pullModel("stories260K", { cacheDir, hubUrl: hub.url, retries: -1 })).rejects.toThrow(
      /retries must be an integer >= 0, got -1/,
    );
    expect(hub.requests).toHaveLength(0);
  });
});

describe("loadModel resolution", () => {
  it("pulls a known model on first use", async () => {
    serveTinyllamas();
    const events: PullProgressEvent[] = [];
    const resolved = await loadModel("stories260K", {
      cacheDir,
      modelsDir: "",
      offline: false,
      hubUrl: hub.url,
      onDownloadProgress: (event) => events.push(event),
    });
    expect(resolved.path).toBe(path.join(cacheDir, "models", "stories260K", "stories260K.bin"));
    expect(events.some((event) => event.type === "file-done")).toBe(true);
  });

  it("prefers the models folder over the cache", async () => {
    const resolved = await loadModel("stories260K", { cacheDir, modelsDir: sharedPath("models"), offline: false, hubUrl: hub.url });
    expect(resolved.path).toBe(path.join(sharedPath("models"), "stories260K", "stories260K.bin"));
    expect(hub.requests).toHaveLength(0);
  });

  it("explains how to pull in offline mode", async () => {
    const error = await loadModel("stories260K", { cacheDir, modelsDir: "", offline: true, hubUrl: hub.url }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect((error as Error).name).toBe("ModelLoadError");
    expect((error as Error).message).toBe(
      `model "stories260K" is not in the download cache ${path.join(cacheDir, "models")}, and offline mode (LCC_OFFLINE=1) forbids downloading it\n` +
        'hint: run "lcc models pull stories260K" while online, or set LCC_MODELS to a folder that contains "stories260K"',
    );
    expect(hub.requests).toHaveLength(0);
  });

  it("reads LCC_OFFLINE when the option is absent", async () => {
    const previous = process.env.LCC_OFFLINE;
    process.env.LCC_OFFLINE = "1";
    try {
      await expect(loadModel("owner/model", { cacheDir, modelsDir: "", hubUrl: hub.url })).rejects.toThrow(
        /offline mode \(LCC_OFFLINE=1\) forbids downloading it/,
      );
    } finally {
      if (previous === undefined) delete process.env.LCC_OFFLINE;
      else process.env.LCC_OFFLINE = previous;
    }
    expect(hub.requests).toHaveLength(0);
  });

  it("keeps the not-found message for names that cannot be downloaded", async () => {
    await expect(loadModel("no-such-model", { cacheDir, modelsDir: "", offline: false, hubUrl: hub.url })).rejects.toThrow(
      /model "no-such-model" was not found as a path/,
    );
  });
});
