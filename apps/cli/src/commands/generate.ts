/**
 * `lcc generate`: plain text generation from a prompt, streamed to stdout.
 */

import { LanguageModel, generateTokens, loadModel } from "@lcc/models";
import type { Command } from "commander";
import { integerOption, numberOption } from "../options.js";

interface GenerateCommandOptions {
  model: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  threads: number;
}

export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("Generate text from a prompt. Text goes to stdout, speed statistics to stderr.")
    .requiredOption("-m, --model <path>", "model folder, llama2.c checkpoint, or a model name inside $LCC_MODELS (required)")
    .option("-p, --prompt <text>", "prompt text; an empty prompt starts from the beginning-of-sequence token", "")
    .option("-n, --max-tokens <count>", "maximum number of tokens to generate", integerOption("--max-tokens", 0), 256)
    .option("-t, --temperature <value>", "sampling temperature; 0 always picks the most likely token", numberOption("--temperature", 0, 100), 0)
    .option("--top-p <value>", "nucleus sampling: keep the most likely tokens up to this total probability", numberOption("--top-p", 0, 1, true), 1)
    .option("--top-k <count>", "keep only the k most likely tokens; 0 keeps all", integerOption("--top-k", 0), 0)
    .option("-s, --seed <value>", "seed of the sampler's random numbers", integerOption("--seed", 0, 2 ** 32 - 1), 0)
    .option("--threads <count>", "onnxruntime intra-op threads; 0 lets onnxruntime choose", integerOption("--threads", 0, 1024), 0)
    .action(async (options: GenerateCommandOptions) => {
      await generate(options);
    });
}

async function generate(options: GenerateCommandOptions): Promise<void> {
  const { model, tokenizer } = await loadModel(options.model);
  const languageModel = new LanguageModel(model, { threads: options.threads });
  try {
    await languageModel.prepare();
    const promptIds = tokenizer.encode(options.prompt, { addBos: true });
    const decoder = tokenizer.createStreamDecoder();
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once("SIGINT", onSignal);

    let prefillMs = 0;
    let decodeMs = 0;
    let count = 0;
    try {
      for await (const token of generateTokens(languageModel, promptIds, {
        maxTokens: options.maxTokens,
        temperature: options.temperature,
        topP: options.topP,
        topK: options.topK,
        seed: options.seed,
        signal: controller.signal,
      })) {
        if (token.index === 0) prefillMs = token.elapsedMs;
        else decodeMs += token.elapsedMs;
        count += 1;
        process.stdout.write(decoder.push(token.id));
      }
    } finally {
      process.off("SIGINT", onSignal);
    }
    process.stdout.write(decoder.flush());

    // Statistics: prefill covers the prompt, decode every token after the first.
    const prefillRate = prefillMs > 0 ? (promptIds.length / prefillMs) * 1000 : 0;
    const decodeRate = decodeMs > 0 ? ((count - 1) / decodeMs) * 1000 : 0;
    process.stderr.write(
      `\n[prefill: ${promptIds.length} tokens, ${prefillRate.toFixed(1)} tokens/s; decode: ${count} tokens, ${decodeRate.toFixed(1)} tokens/s]\n`,
    );
  } finally {
    await languageModel.dispose();
  }
}
