import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_PATH, runCli } from "./test/run-cli.js";
import { sharedPath } from "./test/shared.js";

describe("lcc serve", () => {
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-serve-"));
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("serves on loopback with a key until SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [
        CLI_PATH,
        "serve",
        "--model",
        sharedPath("models", "stories260K"),
        "--port",
        "0",
        "--memory-dir",
        folder,
        "--api-key-env",
        "LCC_TEST_KEY",
        "--threads",
        "1",
      ],
      { env: { ...process.env, LCC_TEST_KEY: "key-for-serve-test" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));

    // The "server listening" log line carries the URL.
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
        const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr);
        if (match) resolve(match[1] as string);
      });
      child.on("close", () => reject(new Error(`lcc serve exited before listening:\n${stderr}`)));
    });

    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", model: "stories260K", memories: 0 });
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    const models = await fetch(`${url}/v1/models`, { headers: { authorization: "Bearer key-for-serve-test" } });
    expect(models.status).toBe(200);
    expect(await models.json()).toMatchObject({ data: [{ id: "stories260K", object: "model" }] });

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).toContain('"msg":"server stopped"');
    expect(stderr).not.toContain("key-for-serve-test");
  });

  it("fails with a usage error when the key variable is unset", async () => {
    const result = await runCli(["serve", "--model", sharedPath("models", "stories260K"), "--api-key-env", "LCC_TEST_KEY_UNSET"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--api-key-env names LCC_TEST_KEY_UNSET, but that environment variable is not set or empty/);
  });
});
