#!/usr/bin/env node
/**
 * Load benchmark of the HTTP server. It starts a server in a child process on 127.0.0.1,
 * so that the load generator does not share its event loop, and compiles one memory over
 * the API. Then it sends bounded runs of chat completions that read the memory, and
 * prints latency percentiles and throughput as Markdown on stdout.
 *
 * Usage: node dist/bench/main.js [--model PATH] [--requests 200] [--concurrency 16]
 *        [--max-tokens 16] [--threads 0]
 * The model defaults to stories260K inside $LCC_MODELS.
 */

import { type ChildProcess, fork } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startServer } from "../server.js";
import { formatLoadMarkdown, runLoad } from "./load.js";

const PROMPTS = [
  "Once upon a time",
  "The little dog",
  "One day, Tom went to the park",
  "Lily saw a big red ball",
  "The sun was shining and",
];

const MEMORY_TEXT =
  "Once upon a time, there was a little fox named Rusty. Rusty lived in a cozy den under an old oak tree. Every evening he visited his friend, a wise owl named Hoot, who told him stories about the stars. One night a storm came, and Rusty helped Hoot fix her broken nest. After that, they were the best of friends.";

interface ChildConfig {
  readonly model: string;
  readonly threads: number;
  readonly maxQueued: number;
}

/** Runs the server in the child process until SIGTERM, and reports its URL to the parent. */
async function runChild(config: ChildConfig): Promise<void> {
  const server = await startServer({
    model: config.model,
    port: 0,
    logLevel: "warn",
    sessionOptions: { threads: config.threads },
    limits: { maxQueued: config.maxQueued },
  });
  process.send?.({ url: server.url, modelId: server.modelId });
  process.once("SIGTERM", () => {
    void server.close().then(() => process.exit(0));
  });
}

async function startChild(config: ChildConfig): Promise<{ child: ChildProcess; url: string; modelId: string }> {
  const child = fork(fileURLToPath(import.meta.url), ["--child", JSON.stringify(config)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = await new Promise<{ url: string; modelId: string }>((resolve, reject) => {
    child.once("message", (message) => resolve(message as { url: string; modelId: string }));
    child.once("exit", (code) => reject(new Error(`the server process exited with code ${code} before it was ready`)));
  });
  return { child, ...ready };
}

/** Compiles the benchmark memory over the API and returns its id. */
async function compileMemory(url: string): Promise<string> {
  const submitted = await fetch(`${url}/v1/memories/compile`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text: MEMORY_TEXT, options: { steps: 10, queries: 4 } }),
  });
  const job = (await submitted.json()) as { id: string };
  for (;;) {
    const state = (await (await fetch(`${url}/v1/memories/compile/${job.id}`)).json()) as {
      status: string;
      memory_id: string | null;
      error: unknown;
    };
    if (state.status === "succeeded" && state.memory_id !== null) return state.memory_id;
    if (state.status === "failed" || state.status === "cancelled")
      throw new Error(`the benchmark memory did not compile: ${JSON.stringify(state.error)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: "string" },
      model: { type: "string" },
      requests: { type: "string", default: "200" },
      concurrency: { type: "string", default: "16" },
      "max-tokens": { type: "string", default: "16" },
      threads: { type: "string", default: "0" },
    },
  });
  if (values.child !== undefined) {
    await runChild(JSON.parse(values.child) as ChildConfig);
    return;
  }

  const model = values.model ?? (process.env.LCC_MODELS ? path.join(process.env.LCC_MODELS, "stories260K") : undefined);
  if (model === undefined) throw new Error("no model: pass --model PATH or set LCC_MODELS to a folder holding stories260K");
  const requests = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const maxTokens = Number(values["max-tokens"]);
  const { child, url, modelId } = await startChild({ model, threads: Number(values.threads), maxQueued: Math.max(32, concurrency) });

  let failed = 0;
  try {
    const memoryId = await compileMemory(url);
    const cpus = os.cpus();
    const machine = `${cpus[0]?.model.trim() ?? "unknown CPU"}, ${cpus.length} cores, Node ${process.version}`;

    // A short warm-up, then one run without and one with streaming.
    await runLoad({ url, model: modelId, requests: 8, concurrency: 4, maxTokens, prompts: PROMPTS, memories: [memoryId] });
    for (const stream of [false, true]) {
      const result = await runLoad({
        url,
        model: modelId,
        requests,
        concurrency,
        maxTokens,
        prompts: PROMPTS,
        memories: [memoryId],
        stream,
      });
      process.stdout.write(`${formatLoadMarkdown(result, { model: modelId, machine, stream, memories: 1 })}\n`);
      for (const failure of result.failures.slice(0, 5))
        process.stderr.write(`request ${failure.index} failed with status ${failure.status}: ${failure.message}\n`);
      failed += result.failures.length;
    }
  } finally {
    child.kill("SIGTERM");
  }
  if (failed > 0) process.exitCode = 1;
}

await main();
