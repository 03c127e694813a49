/**
 * `lcc quickstart`: the main job end to end. Compiles a short story written for this
 * project into a memory, then answers cloze prompts reading the memory, reading nothing,
 * and reading the full story, and compares the memory's size with the story's KV cache.
 */

import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeMemoryFile } from "@lcc/artifact";
import { builtInQueryPool, compileContext, toMemoryArtifact } from "@lcc/compiler";
import { loadModel, modelHashes } from "@lcc/models";
import { Engine } from "@lcc/serving";
import type { Command } from "commander";
import { checkOutputFile } from "../files.js";
import { integerOption } from "../options.js";
import { ProgressLine, formatSeconds } from "../progress-bar.js";
import { VERSION } from "../version.js";

const ASSETS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../assets/quickstart");

interface QuickstartOptions {
  model: string;
  output: string;
  steps: number;
  maxTokens: number;
  threads: number;
}

interface ClozePrompt {
  readonly prompt: string;
  readonly expected: string;
}

export function registerQuickstart(program: Command): void {
  program
    .command("quickstart")
    .description(
      "Compile a short story into a memory with stories260K, then answer cloze prompts from the memory, from no context and from the full story.",
    )
    .option("-m, --model <path>", "model folder, checkpoint, or name in $LCC_MODELS (downloaded on first use when missing)", "stories260K")
    .option("-o, --output <file>", "where to write the compiled memory", "quickstart.lccm")
    .option("--steps <count>", "optimisation steps", integerOption("--steps", 1), 100)
    .option("-n, --max-tokens <count>", "tokens generated per answer", integerOption("--max-tokens", 1), 6)
    .option("--threads <count>", "onnxruntime intra-op threads; 0 lets onnxruntime choose", integerOption("--threads", 0, 1024), 0)
    .action(async (options: QuickstartOptions) => {
      await quickstart(options);
    });
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(2)} MiB` : `${(bytes / 2 ** 10).toFixed(1)} KiB`;
}

async function quickstart(options: QuickstartOptions): Promise<void> {
  await checkOutputFile(options.output, "--output");
  const story = (await readFile(path.join(ASSETS, "story.txt"), "utf8")).trim();
  const prompts = JSON.parse(await readFile(path.join(ASSETS, "prompts.json"), "utf8")) as ClozePrompt[];
  const resolved = await loadModel(options.model);
  const { config } = resolved.model;
  const contextIds = resolved.tokenizer.encode(story, { addBos: false });

  // Step 1: compile the story.
  process.stderr.write(`compiling a ${contextIds.length}-token story with ${config.name} at ratio 16\n`);
  const progress = new ProgressLine();
  const compiled = await compileContext({
    model: resolved.model,
    contextIds,
    queryPool: builtInQueryPool("story-openings").map((text) => resolved.tokenizer.encode(text, { addBos: false })),
    options: { steps: options.steps, threads: options.threads },
    onProgress: (event) => {
      if (event.type === "teacher") progress.update("teacher", event.done, event.total, "queries answered");
      if (event.type === "step") progress.update("compile", event.step, event.steps, `loss ${event.loss.toFixed(4)} ETA ${formatSeconds(event.etaSeconds)}`);
    },
  });
  progress.finish();
  const memory = toMemoryArtifact(compiled, { fingerprint: modelHashes(resolved.model, resolved.tokenizer), sourceText: story, producerVersion: VERSION });
  await writeMemoryFile(options.output, memory, { dtype: "float16" });

  // Step 2: answer each cloze prompt three ways.
  const engine = await Engine.create(resolved, { sessionOptions: { threads: options.threads } });
  const rows: string[][] = [];
  try {
    const memoryId = await engine.addMemory(options.output);
    const answer = async (prompt: string, memories: string[]) => {
      const summary = await engine.generate({ prompt, memories, maxTokens: options.maxTokens, stop: ["\n"] }).collect();
      return summary.text.replace(/\s+/g, " ").trim();
    };
    for (const { prompt, expected } of prompts) {
      rows.push([prompt, expected, await answer(prompt, [memoryId]), await answer(prompt, []), await answer(`${story}\n${prompt}`, [])]);
    }
  } finally {
    await engine.close();
  }

  // Step 3: the table and the sizes.
  const headers = ["prompt", "in the story", "with memory", "no context", "full story"];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ");
  const out = [line(headers), widths.map((w) => "-".repeat(w)).join("-|-"), ...rows.map(line)];
  const perToken = config.numLayers * 2 * config.numKvHeads * config.headDim * 2; // float16 bytes per position
  out.push(
    "",
    `memory:        ${compiled.bufferTokens} positions, ${formatBytes(compiled.bufferTokens * perToken)} of float16 keys and values (file ${options.output})`,
    `full context:  ${contextIds.length + 1} positions, ${formatBytes((contextIds.length + 1) * perToken)} of float16 keys and values`,
    `compiled in ${compiled.wallSeconds.toFixed(1)} s; ask more with:`,
    `  npx pnpm@10.34.8 lcc ask ${options.output} "Mia put the red flower in her" --model ${resolved.path}`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
}
