/**
 * `lcc ask` and `lcc chat`: answer prompts by reading memories with the base model.
 */

import { readdir } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline/promises";
import { type DecodedMemory, readMemoryFile } from "@lcc/artifact";
import { ModelLoadError, findCachedModel, loadModel, modelHashes } from "@lcc/models";
import { Engine, type GenerateRequest } from "@lcc/serving";
import { LccError } from "@lcc/tensor";
import type { Command } from "commander";
import { integerOption, numberOption } from "../options.js";

interface AskOptions {
  model?: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stop?: string[];
  threads: number;
}

function addGenerationOptions(command: Command): Command {
  return command
    .option("-m, --model <path>", "base model (folder, checkpoint or name in $LCC_MODELS); default: found from the memory's fingerprint in $LCC_MODELS")
    .option("-n, --max-tokens <count>", "maximum number of tokens to generate", integerOption("--max-tokens", 0), 64)
    .option("-t, --temperature <value>", "sampling temperature; 0 always picks the most likely token", numberOption("--temperature", 0, 100), 0)
    .option("--top-p <value>", "nucleus sampling: keep the most likely tokens up to this total probability", numberOption("--top-p", 0, 1, true), 1)
    .option("--top-k <count>", "keep only the k most likely tokens; 0 keeps all", integerOption("--top-k", 0), 0)
    .option("-s, --seed <value>", "seed of the sampler's random numbers", integerOption("--seed", 0, 2 ** 32 - 1), 0)
    .option("--stop <text...>", "strings that end the answer (not printed)")
    .option("--threads <count>", "onnxruntime intra-op threads; 0 lets onnxruntime choose", integerOption("--threads", 0, 1024), 0);
}

export function registerAsk(program: Command): void {
  addGenerationOptions(
    program
      .command("ask")
      .description("Answer a prompt by reading a memory instead of its text. The answer goes to stdout, timings to stderr.")
      .argument("<memory>", "memory file (.lccm)")
      .argument("<prompt>", "prompt or question; the model continues it"),
  ).action(async (memoryFile: string, prompt: string, options: AskOptions) => {
    const { engine, ids } = await startEngine([memoryFile], options);
    try {
      await answer(engine, ids, prompt, options);
    } finally {
      await engine.close();
    }
  });

  addGenerationOptions(
    program
      .command("chat")
      .description("Ask prompts one after another, reading one or more memories placed one after another.")
      .argument("<memories...>", "memory files (.lccm), read in this order"),
  ).action(async (memoryFiles: string[], options: AskOptions) => {
    const { engine, ids } = await startEngine(memoryFiles, options);
    const lines = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
    try {
      if (process.stdin.isTTY) process.stderr.write(`reading ${memoryFiles.length} memor${memoryFiles.length === 1 ? "y" : "ies"}; type a prompt, an empty line or Ctrl-D ends\n`);
      for await (const line of lines) {
        if (line.trim() === "") break;
        try {
          await answer(engine, ids, line, options);
        } catch (error) {
          // One bad prompt (too long for the window, say) does not end the session.
          if (!LccError.isInstance(error)) throw error;
          process.stdout.write("\n");
          process.stderr.write(`lcc: ${error.name}: ${error.message}\n`);
        }
      }
    } finally {
      lines.close();
      await engine.close();
    }
  });
}

/**
 * Finds the model a memory was compiled for: first by name among the folders of
 * $LCC_MODELS, then in the download cache, and checks its weights hash.
 */
async function findModelFor(memory: DecodedMemory): Promise<string> {
  const fingerprint = memory.fingerprint;
  const candidates: string[] = [];
  const modelsDir = process.env.LCC_MODELS;
  if (modelsDir !== undefined && modelsDir !== "") {
    const entries = await readdir(modelsDir).catch(() => [] as string[]);
    for (const entry of entries) if (entry === fingerprint.name || entry === `${fingerprint.name}.bin`) candidates.push(path.join(modelsDir, entry));
  }
  const cached = await findCachedModel(fingerprint.name).catch(() => null);
  if (cached !== null) candidates.push(cached);
  for (const candidate of candidates) {
    const resolved = await loadModel(candidate);
    if (modelHashes(resolved.model, resolved.tokenizer).weightsSha256 === fingerprint.weightsSha256) return candidate;
  }
  const searched = modelsDir ? `${modelsDir} or the download cache` : "the download cache (LCC_MODELS is not set)";
  throw new ModelLoadError(
    `no model in ${searched} matches the memory's model ${fingerprint.name} (weights sha256 ${fingerprint.weightsSha256.slice(0, 12)}…); pass it with --model`,
  );
}

async function startEngine(memoryFiles: readonly string[], options: AskOptions): Promise<{ engine: Engine; ids: string[] }> {
  const first = await readMemoryFile(memoryFiles[0] as string);
  const model = options.model ?? (await findModelFor(first));
  const engine = await Engine.load(model, { sessionOptions: { threads: options.threads } });
  try {
    const ids: string[] = [];
    for (const file of memoryFiles) ids.push(await engine.addMemory(file));
    return { engine, ids };
  } catch (error) {
    await engine.close();
    throw error;
  }
}

async function answer(engine: Engine, memories: readonly string[], prompt: string, options: AskOptions): Promise<void> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once("SIGINT", onSignal);
  try {
    const request: GenerateRequest = {
      memories,
      prompt,
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      topP: options.topP,
      topK: options.topK,
      seed: options.seed,
      stop: options.stop ?? [],
      signal: controller.signal,
    };
    const generation = engine.generate(request);
    for await (const chunk of generation) process.stdout.write(chunk.text);
    const summary = await generation.summary;
    const ttft = summary.timings.timeToFirstTokenMs;
    const decode = summary.timings.decodeTokensPerSecond;
    process.stdout.write("\n");
    process.stderr.write(
      `[${summary.tokenIds.length} tokens, finish: ${summary.finishReason}; time to first token ${ttft === null ? "–" : `${ttft.toFixed(0)} ms`}; decode ${decode === null ? "–" : `${decode.toFixed(1)} tokens/s`}]\n`,
    );
  } finally {
    process.off("SIGINT", onSignal);
  }
}
