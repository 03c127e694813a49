import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./test/run-cli.js";
import { sharedPath } from "./test/shared.js";

/**
 * A hub on loopback that serves the stories260K files at their karpathy/tinyllamas
 * paths, with Range support, and flips one byte of every file while `corrupt` is set.
 */
class LoopbackHub {
  readonly files = new Map<string, Buffer>();
  readonly paths: string[] = [];
  corrupt = false;
  private readonly server = http.createServer((request, response) => {
    const url = decodeURIComponent(request.url ?? "");
    this.paths.push(url);
    const bytes = this.files.get(url);
    if (bytes === undefined) {
      response.writeHead(404, { "x-error-code": "EntryNotFound" }).end();
      return;
    }
    const body = Buffer.from(bytes);
    if (this.corrupt) body[100] = (body[100] as number) ^ 0xff;
    const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? "")?.[1] ?? 0);
    const headers: http.OutgoingHttpHeaders = { "content-length": String(body.length - start) };
    if (start > 0) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
    response.writeHead(start > 0 ? 206 : 200, headers).end(body.subarray(start));
  });

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  start(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe("lcc models pull and list", () => {
  const hub = new LoopbackHub();
  let checkpoint: Buffer;
  let cacheDir: string;

  beforeAll(async () => {
    checkpoint = await readFile(sharedPath("models", "stories260K", "stories260K.bin"));
    hub.files.set("/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin", checkpoint);
    hub.files.set(
      "/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin",
      await readFile(sharedPath("models", "stories260K", "tok512.bin")),
    );
    await hub.start();
  });

  afterAll(async () => {
    await hub.stop();
  });

  beforeEach(async () => {
    hub.corrupt = false;
    cacheDir = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-pull-"));
  });

  it("pulls stories260K from LCC_HUB_URL, lists it, and generates from the cache offline", async () => {
    const env = { LCC_HUB_URL: hub.url, LCC_CACHE_DIR: cacheDir, LCC_OFFLINE: "" };
    const pulled = await runCli(["models", "pull", "stories260K"], { env });
    expect(pulled.code).toBe(0);
    const folder = path.join(cacheDir, "models", "stories260K");
    expect(pulled.stdout).toBe(`${folder}\n`);
    expect(pulled.stderr).toContain("pull stories260K.bin [########################] 1032/1032 KiB");
    expect(pulled.stderr).toContain("stories260K: downloaded 1.01 MiB; 2 files, 1.01 MiB, sha256 checked\n");
    expect((await readdir(folder)).sort()).toEqual(["lcc-manifest.json", "stories260K.bin", "tok512.bin"]);
    expect(
      createHash("sha256")
        .update(await readFile(path.join(folder, "stories260K.bin")))
        .digest("hex"),
    ).toBe("b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");

    const again = await runCli(["models", "pull", "stories260K"], { env });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("stories260K: already cached; 2 files");

    const listed = await runCli(["models", "list"], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe(`stories260K    1.01 MiB  ${folder}\n`);
    const json = JSON.parse((await runCli(["models", "list", "--json"], { env })).stdout) as {
      name: string;
      repo: string;
      complete: boolean;
      bytes: number;
    }[];
    expect(json.map((entry) => [entry.name, entry.repo, entry.complete, entry.bytes])).toEqual([
      ["stories260K", "karpathy/tinyllamas", true, 1_062_767],
    ]);

    // runCli sets LCC_OFFLINE=1 and an empty LCC_MODELS, so this reads the cache only.
    const expected = await readFile(sharedPath("cases", "stories260K-greedy200.txt"), "utf8");
    const generated = await runCli(["generate", "--model", "stories260K", "--max-tokens", "200"], { env: { LCC_CACHE_DIR: cacheDir } });
    expect(generated.code).toBe(0);
    expect(generated.stdout).toBe(expected);
  });

  it("reports a corrupted download and keeps no file", async () => {
    hub.corrupt = true;
    const result = await runCli(["models", "pull", "stories260K", "--quiet"], { env: { LCC_HUB_URL: hub.url, LCC_CACHE_DIR: cacheDir, LCC_OFFLINE: "" } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^lcc: ChecksumMismatchError: the download of stories260K\.bin is corrupted: its sha256 is [0-9a-f]{64} but b0a507e7[0-9a-f]{56} was expected; the file was deleted\nhint: run the pull again/,
    );
    expect((await readdir(path.join(cacheDir, "models", "stories260K"))).sort()).toEqual(["lcc-manifest.json"]);
    const listed = await runCli(["models", "list"], { env: { LCC_CACHE_DIR: cacheDir } });
    expect(listed.stdout).toContain('(incomplete: run "lcc models pull stories260K" to resume)');
  });

  it("reports a hub id the hub does not have", async () => {
    const result = await runCli(["models", "pull", "nobody/nothing", "--revision", "v1"], {
      env: { LCC_HUB_URL: hub.url, LCC_CACHE_DIR: cacheDir, LCC_OFFLINE: "" },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `lcc: HubNotFoundError: config.json (${hub.url}/nobody/nothing/resolve/v1/config.json) was not found (HTTP 404 EntryNotFound from`,
    );
    expect(hub.paths).toContain("/nobody/nothing/resolve/v1/config.json");
  });

  it("rejects a name that is neither known nor a hub id", async () => {
    const result = await runCli(["models", "pull", "nothing-known"], { env: { LCC_HUB_URL: hub.url, LCC_CACHE_DIR: cacheDir, LCC_OFFLINE: "" } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('lcc: ModelReferenceError: "nothing-known" is neither a known model ("stories260K") nor a hub id');
  });

  it("explains how to pull when offline and the model is missing", async () => {
    const requestsBefore = hub.paths.length;
    const result = await runCli(["generate", "--model", "stories260K", "--max-tokens", "5"], {
      env: { LCC_CACHE_DIR: cacheDir, LCC_HUB_URL: hub.url },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `lcc: ModelLoadError: model "stories260K" is not in the download cache ${path.join(cacheDir, "models")}, and offline mode (LCC_OFFLINE=1) forbids downloading it\n` +
        'hint: run "lcc models pull stories260K" while online, or set LCC_MODELS to a folder that contains "stories260K"\n',
    );
    expect(hub.paths.length).toBe(requestsBefore);
  });

  it("rejects a pull in offline mode without a request", async () => {
    const requestsBefore = hub.paths.length;
    const result = await runCli(["models", "pull", "stories260K"], {
      env: { LCC_HUB_URL: hub.url, LCC_CACHE_DIR: cacheDir, LCC_OFFLINE: "1" },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `lcc: OfflineError: "stories260K" is not complete in the download cache ${path.join(cacheDir, "models")}, ` +
        "and offline mode (LCC_OFFLINE=1) forbids downloads; unset LCC_OFFLINE to pull it\n",
    );
    expect(hub.paths.length).toBe(requestsBefore);
  });

  it("prints an empty cache as a hint", async () => {
    const result = await runCli(["models", "list"], { env: { LCC_CACHE_DIR: cacheDir } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`no models in ${path.join(cacheDir, "models")}; download one with "lcc models pull <model>"\n`);
  });
});
