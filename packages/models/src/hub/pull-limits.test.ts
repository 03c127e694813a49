import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { convertToHfFolder } from "../convert.js";
import { loadModel } from "../load.js";
import { TestHub } from "../test/hub-server.js";
import { sharedPath } from "../test/shared.js";
import type { PullProgressEvent } from "./download.js";
import { DownloadError, FileTooLargeError, OfflineError, SizeMismatchError } from "./errors.js";
import { pullModel } from "./pull.js";

const TINYLLAMAS = "karpathy/tinyllamas";
const HF_REPO = "lcc-test/stories260K-hf";
const CHECKPOINT_BYTES = 1_056_540;

let checkpoint: Buffer;
let tokenizer: Buffer;
let hfFiles: Map<string, Buffer>;
let hub: TestHub;
let cacheDir: string;

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Runs `action` and returns what it threw, or null. */
async function caught(action: () => Promise<unknown>): Promise<Error | null> {
  return action().then(
    () => null,
    (error: unknown) => error as Error,
  );
}

/** Serves stories260K at its karpathy/tinyllamas paths and returns the key of the checkpoint. */
function serveTinyllamas(): string {
  const key = hub.addFile(TINYLLAMAS, "main", "stories260K/stories260K.bin", checkpoint, true);
  hub.addFile(TINYLLAMAS, "main", "stories260K/tok512.bin", tokenizer, true);
  return key;
}

function serveHfRepo(): void {
  for (const [name, bytes] of hfFiles) hub.addFile(HF_REPO, "main", name, bytes, name.endsWith(".safetensors"));
}

function storageRanges(fragment: string): (string | null)[] {
  return hub
    .requestsFor(fragment)
    .filter((request) => request.server === "storage")
    .map((request) => request.range);
}

/** Sets environment variables for the duration of `action`, then restores them. */
async function withEnvironment<T>(values: Record<string, string>, action: () => Promise<T>): Promise<T> {
  const previous = new Map(Object.keys(values).map((name) => [name, process.env[name]]));
  Object.assign(process.env, values);
  try {
    return await action();
  } finally {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

beforeAll(async () => {
  const modelFolder = sharedPath("models", "stories260K");
  checkpoint = await readFile(path.join(modelFolder, "stories260K.bin"));
  tokenizer = await readFile(path.join(modelFolder, "tok512.bin"));
  const hfFolder = await mkdtemp(path.join(os.tmpdir(), "lcc-limits-hf-"));
  await convertToHfFolder(await loadModel(modelFolder), hfFolder);
  hfFiles = new Map();
  for (const name of await readdir(hfFolder)) hfFiles.set(name, await readFile(path.join(hfFolder, name)));
});

beforeEach(async () => {
  hub = await new TestHub().start();
  cacheDir = await mkdtemp(path.join(os.tmpdir(), "lcc-limits-cache-"));
});

afterEach(async () => {
  await hub.stop();
});

describe("pullModel size checks for a pinned file", () => {
  const folder = () => path.join(cacheDir, "models", "stories260K");

  it("rejects a Content-Length beyond the pinned size", async () => {
    const key = serveTinyllamas();
    hub.sizeFaults.set(key, { contentLength: 1_000_000_000_000, extraBytes: Number.POSITIVE_INFINITY });

    const error = await caught(() => pullModel("stories260K", { cacheDir, hubUrl: hub.url, retries: 2, retryDelayMs: 0 }));
    expect(error).toBeInstanceOf(SizeMismatchError);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error?.name).toBe("SizeMismatchError");
    expect(error?.message).toBe(
      "the download of stories260K.bin was rejected: the response's Content-Length 1000000000000 gives a file of 1000000000000 bytes, " +
        `but the file has ${CHECKPOINT_BYTES} bytes (pinned by lcc); the partial file was deleted\n` +
        "hint: the server does not serve the file that lcc expects; check LCC_HUB_URL and any proxy in between, then run the pull again",
    );
    expect((error as SizeMismatchError).details).toMatchObject({ expectedBytes: CHECKPOINT_BYTES, announcedBytes: 1_000_000_000_000 });

    // Nothing is kept, and a size error is final: one request to the storage host, no retry.
    expect(await exists(path.join(folder(), "stories260K.bin.part"))).toBe(false);
    expect(await exists(path.join(folder(), "stories260K.bin"))).toBe(false);
    expect(storageRanges("stories260K.bin")).toEqual([null]);
    expect(hub.bytesSent.get(key) ?? 0).toBeLessThan(64 * 2 ** 20);
  });

  it("stops a body that runs past the pinned size", async () => {
    const key = serveTinyllamas();
    hub.sizeFaults.set(key, { contentLength: null, extraBytes: Number.POSITIVE_INFINITY });

    const events: PullProgressEvent[] = [];
    const error = await caught(() =>
      pullModel("stories260K", { cacheDir, hubUrl: hub.url, retries: 2, retryDelayMs: 0, onProgress: (event) => events.push(event) }),
    );
    expect(error).toBeInstanceOf(SizeMismatchError);
    expect(error?.message).toMatch(
      new RegExp(
        `^the download of stories260K\\.bin was stopped: the server sent at least (\\d+) bytes, but the file has ${CHECKPOINT_BYTES} bytes \\(pinned by lcc\\); the partial file was deleted\\nhint: `,
      ),
    );
    const received = (error as SizeMismatchError).details.receivedBytes as number;
    expect(received).toBeGreaterThan(CHECKPOINT_BYTES);
    expect(error?.message).toContain(`at least ${received} bytes`);

    // No byte past the pinned size reached the disk, and the part file is gone.
    const written = events.flatMap((event) => (event.type === "bytes" && event.file === "stories260K.bin" ? [event.bytesDone] : []));
    expect(Math.max(...written)).toBeLessThanOrEqual(CHECKPOINT_BYTES);
    expect(events.some((event) => event.type === "retry")).toBe(false);
    expect(await exists(path.join(folder(), "stories260K.bin.part"))).toBe(false);
    expect(storageRanges("stories260K.bin")).toEqual([null]);
  });

  it("rejects a Content-Range total that contradicts the pinned size", async () => {
    const key = serveTinyllamas();
    hub.sizeFaults.set(key, { rangeTotal: 2_000_000 });
    await mkdir(folder(), { recursive: true });
    await writeFile(path.join(folder(), "stories260K.bin.part"), checkpoint.subarray(0, 300_000));

    const error = await caught(() => pullModel("stories260K", { cacheDir, hubUrl: hub.url, retries: 2, retryDelayMs: 0 }));
    expect(error).toBeInstanceOf(SizeMismatchError);
    expect(error?.message).toContain(
      `the response's Content-Range bytes 300000-${CHECKPOINT_BYTES - 1}/2000000 gives a file of 2000000 bytes, but the file has ${CHECKPOINT_BYTES} bytes (pinned by lcc)`,
    );
    expect(storageRanges("stories260K.bin")).toEqual(["bytes=300000-"]);
    expect(await exists(path.join(folder(), "stories260K.bin.part"))).toBe(false);
  });

  it("rejects an X-Linked-Size that contradicts the pinned size", async () => {
    const key = serveTinyllamas();
    hub.sizeFaults.set(key, { linkedSize: 2_000_000 });
    const error = await caught(() => pullModel("stories260K", { cacheDir, hubUrl: hub.url, retries: 2, retryDelayMs: 0 }));
    expect(error).toBeInstanceOf(SizeMismatchError);
    expect(error?.message).toContain(
      `the response's X-Linked-Size 2000000 gives a file of 2000000 bytes, but the file has ${CHECKPOINT_BYTES} bytes (pinned by lcc)`,
    );
    expect(await exists(path.join(folder(), "stories260K.bin.part"))).toBe(false);
  });

  it("restarts when the part exceeds the pinned size", async () => {
    serveTinyllamas();
    await mkdir(folder(), { recursive: true });
    const oversized = Buffer.concat([checkpoint, Buffer.alloc(300_000, 0x5a)]);
    await writeFile(path.join(folder(), "stories260K.bin.part"), oversized);

    const events: PullProgressEvent[] = [];
    const pulled = await pullModel("stories260K", { cacheDir, hubUrl: hub.url, retries: 0, onProgress: (event) => events.push(event) });
    // The file is requested whole: no range request from beyond the file's end.
    expect(storageRanges("stories260K.bin")).toEqual([null]);
    expect(pulled.downloadedBytes).toBe(CHECKPOINT_BYTES + tokenizer.length);
    expect((await stat(path.join(pulled.path, "stories260K.bin"))).size).toBe(CHECKPOINT_BYTES);
    expect(sha256(await readFile(path.join(pulled.path, "stories260K.bin")))).toBe(sha256(checkpoint));
    expect(events.filter((event) => event.type === "bytes" && event.file === "stories260K.bin")[0]).toMatchObject({ bytesDone: 0 });
    expect(await exists(path.join(pulled.path, "stories260K.bin.part"))).toBe(false);
  });
});

describe("pullModel size checks for a hub file", () => {
  const folder = () => path.join(cacheDir, "models", "lcc-test", "stories260K-hf");
  const weightsKey = `${HF_REPO}/main/model.safetensors`;
  const weightsBytes = () => (hfFiles.get("model.safetensors") as Buffer).length;

  it("stops a body longer than X-Linked-Size", async () => {
    serveHfRepo();
    hub.sizeFaults.set(weightsKey, { contentLength: null, extraBytes: Number.POSITIVE_INFINITY });

    const error = await caught(() => pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, retryDelayMs: 0 }));
    expect(error).toBeInstanceOf(SizeMismatchError);
    expect(error?.message).toMatch(
      new RegExp(
        `^the download of model\\.safetensors was stopped: the server sent at least \\d+ bytes, but the file has ${weightsBytes()} bytes \\(announced by the hub in X-Linked-Size\\)`,
      ),
    );
    expect(await exists(path.join(folder(), "model.safetensors.part"))).toBe(false);
    expect(storageRanges("model.safetensors")).toEqual([null]);
  });

  it("rejects an X-Linked-Size above maxFileBytes", async () => {
    serveHfRepo();
    const error = await caught(() => pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, maxFileBytes: 100_000 }));
    expect(error).toBeInstanceOf(FileTooLargeError);
    expect(error?.name).toBe("FileTooLargeError");
    expect(error?.message).toBe(
      `the download of model.safetensors was rejected: the response's X-Linked-Size ${weightsBytes()} gives a file of ${weightsBytes()} bytes, ` +
        "above the per-file limit of 100000 bytes; the partial file was deleted\n" +
        "hint: if the file really is this large, raise the limit with the maxFileBytes option (lcc models pull --max-file-bytes)",
    );
    expect(await exists(path.join(folder(), "model.safetensors.part"))).toBe(false);
  });

  it("rejects a Content-Length above maxFileBytes", async () => {
    serveHfRepo();
    hub.sizeFaults.set(`${HF_REPO}/main/config.json`, { contentLength: 5_000_000, extraBytes: Number.POSITIVE_INFINITY });
    const error = await caught(() => pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, maxFileBytes: 65_536 }));
    expect(error).toBeInstanceOf(FileTooLargeError);
    expect(error?.message).toContain(
      "the download of config.json was rejected: the response's Content-Length 5000000 gives a file of 5000000 bytes, above the per-file limit of 65536 bytes",
    );
    expect(await exists(path.join(folder(), "config.json.part"))).toBe(false);
  });

  it("caps a body of unknown size at maxFileBytes", async () => {
    serveHfRepo();
    hub.sizeFaults.set(`${HF_REPO}/main/config.json`, { contentLength: null, extraBytes: Number.POSITIVE_INFINITY });

    const events: PullProgressEvent[] = [];
    const error = await caught(() =>
      pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, maxFileBytes: 65_536, retryDelayMs: 0, onProgress: (event) => events.push(event) }),
    );
    expect(error).toBeInstanceOf(FileTooLargeError);
    expect(error?.message).toMatch(
      /^the download of config\.json was stopped: the server announced no size and sent at least \d+ bytes, above the per-file limit of 65536 bytes; the partial file was deleted\nhint: if the file really is this large/,
    );
    const written = events.flatMap((event) => (event.type === "bytes" && event.file === "config.json" ? [event.bytesDone] : []));
    expect(Math.max(...written)).toBeLessThanOrEqual(65_536);
    expect(await exists(path.join(folder(), "config.json.part"))).toBe(false);
    expect(hub.requestsFor("/main/config.json")).toHaveLength(1);
  });

  it("restarts when the part exceeds X-Linked-Size", async () => {
    serveHfRepo();
    await mkdir(folder(), { recursive: true });
    const weights = hfFiles.get("model.safetensors") as Buffer;
    await writeFile(path.join(folder(), "model.safetensors.part"), Buffer.concat([weights, Buffer.alloc(4096, 0x5a)]));

    const pulled = await pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, retries: 0 });
    // The size is only known from the hub's redirect, so the first request still sends a
    // Range header. Its response is dropped and the file is requested whole.
    expect(storageRanges("model.safetensors")).toEqual([`bytes=${weights.length + 4096}-`, null]);
    expect(pulled.files.find((file) => file.path === "model.safetensors")).toMatchObject({
      size: weights.length,
      sha256: sha256(weights),
      verifiedBy: "hub-sha256",
    });
  });

  it("accepts files within maxFileBytes", async () => {
    serveHfRepo();
    const largest = Math.max(...[...hfFiles.values()].map((bytes) => bytes.length));
    const pulled = await pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, maxFileBytes: largest });
    expect(pulled.files.map((file) => file.size)).toEqual(
      ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"].map((name) => (hfFiles.get(name) as Buffer).length),
    );
  });

  it("validates maxFileBytes", async () => {
    for (const value of [0, -1, 1.5, Number.NaN]) {
      await expect(pullModel(HF_REPO, { cacheDir, hubUrl: hub.url, maxFileBytes: value })).rejects.toThrow(
        `maxFileBytes must be a positive integer, got ${value}`,
      );
    }
    expect(hub.requests).toHaveLength(0);
  });
});

describe("pullModel in offline mode", () => {
  it("fails under LCC_OFFLINE=1 before any request", async () => {
    serveTinyllamas();
    await withEnvironment({ LCC_OFFLINE: "1", LCC_HUB_URL: hub.url }, async () => {
      for (const name of ["stories260K", "owner/model"]) {
        const error = await caught(() => pullModel(name, { cacheDir }));
        expect(error).toBeInstanceOf(OfflineError);
        expect(error).toBeInstanceOf(DownloadError);
        expect(error?.name).toBe("OfflineError");
        expect(error?.message).toBe(
          `"${name}" is not complete in the download cache ${path.join(cacheDir, "models")}, ` +
            "and offline mode (LCC_OFFLINE=1) forbids downloads; unset LCC_OFFLINE to pull it",
        );
      }
    });
    expect(hub.requests).toHaveLength(0);
    expect(await exists(path.join(cacheDir, "models"))).toBe(false);
  });

  it("fails with offline: true before any request", async () => {
    serveTinyllamas();
    await expect(pullModel("stories260K", { cacheDir, hubUrl: hub.url, offline: true })).rejects.toThrow(
      /offline mode \(the offline option\) forbids downloads; pass offline: false to pull it$/,
    );
    expect(hub.requests).toHaveLength(0);
  });

  it("lets offline: false override LCC_OFFLINE", async () => {
    serveTinyllamas();
    const pulled = await withEnvironment({ LCC_OFFLINE: "1", LCC_HUB_URL: hub.url }, () =>
      pullModel("stories260K", { cacheDir, offline: false }),
    );
    expect(pulled.downloadedBytes).toBe(CHECKPOINT_BYTES + tokenizer.length);
    expect(storageRanges("stories260K.bin")).toEqual([null]);
  });

  it("returns a complete cached model offline", async () => {
    serveTinyllamas();
    const first = await pullModel("stories260K", { cacheDir, hubUrl: hub.url });
    const requestsBefore = hub.requests.length;
    const again = await withEnvironment({ LCC_OFFLINE: "1", LCC_HUB_URL: hub.url }, () => pullModel("stories260K", { cacheDir }));
    expect(again.path).toBe(first.path);
    expect(again.downloadedBytes).toBe(0);
    expect(hub.requests.length).toBe(requestsBefore);
  });
});
