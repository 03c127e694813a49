/**
 * Gradient benchmark: time of one forward-and-backward run divided by one forward run of
 * the same graph (LoRA on q, k, v, o and a cross-entropy loss), with the peak resident
 * memory of each, measured in separate child processes.
 */

import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "gradient-worker.js");

async function measure(model: string, tokens: number, mode: "forward" | "backward", threads: number): Promise<{ ms: number; maxRssBytes: number }> {
  const { stdout } = await run(process.execPath, [WORKER, model, String(tokens), mode, String(threads)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").at(-1) as string) as { ms: number; maxRssBytes: number };
}

export async function runGradientBenchmark(): Promise<string> {
  const threads = os.availableParallelism();
  const cases: [string, string, number][] = [
    ["stories260K", "stories260K", 512],
    ["SmolLM2-135M shape, random weights", "smollm2-shape", 256],
  ];
  const lines = [
    "| model | tokens | forward ms | forward+backward ms | ratio | forward peak RSS | forward+backward peak RSS |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const [label, model, tokens] of cases) {
    const forward = await measure(model, tokens, "forward", threads);
    const backward = await measure(model, tokens, "backward", threads);
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    lines.push(
      `| ${label} | ${tokens} | ${forward.ms.toFixed(1)} | ${backward.ms.toFixed(1)} | ${(backward.ms / forward.ms).toFixed(2)} | ${mib(forward.maxRssBytes)} | ${mib(backward.maxRssBytes)} |`,
    );
  }
  return lines.join("\n");
}
