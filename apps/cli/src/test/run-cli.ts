/**
 * Runs the built `lcc` binary in a child process, as a user would.
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI_PATH = join(PACKAGE_ROOT, "dist", "main.js");

/** Graph cache of the spawned CLI, kept out of the user's home folder. */
const CACHE_DIR = mkdtempSync(join(tmpdir(), "lcc-cli-cache-"));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(args: readonly string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<CliResult> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing; build the CLI first (pnpm build)`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      // Tests never download: LCC_OFFLINE=1 stops `stories260K` and hub ids from being pulled on first use.
      env: { ...process.env, LCC_MODELS: "", LCC_CACHE_DIR: CACHE_DIR, LCC_OFFLINE: "1", ...options.env },
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}
