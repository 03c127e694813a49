/**
 * `lcc compile`: compiles a text file into a memory artifact.
 */

import path from "node:path";
import { STORAGE_DTYPES, type StorageDType, writeMemoryFile } from "@lcc/artifact";
import {
  type BufferInit,
  type CompileOptions,
  CompileInputError,
  compileContext,
  getQueryPool,
  hasQueryPool,
  loadQueryPoolFile,
  toMemoryArtifact,
} from "@lcc/compiler";
import { type ResolvedModel, loadModel, modelHashes } from "@lcc/models";
import { type Command, Option } from "commander";
import { checkOutputFile, readTextInput } from "../files.js";
import { UsageError, integerOption, numberOption } from "../options.js";
import { ProgressLine, formatSeconds } from "../progress-bar.js";
import { VERSION } from "../version.js";

interface CompileCommandOptions {
  model: string;
  output: string;
  ratio: number;
  steps: number;
  learningRate: number;
  schedule: "constant" | "cosine";
  warmupSteps: number;
  clipNorm: number;
  seed: number;
  loraRank: number;
  loraAlpha: number;
  loraTargets: string;
  bufferInit: string;
  freezeBuffer?: boolean;
  loraAtReadTime?: boolean;
  reconstructionLoss: string;
  queries: number;
  answerTokens: number;
  answerTemperature: number;
  queryPool?: string;
  segmentTokens: number;
  heldOutQueries: number;
  patience: number;
  maxSeconds: number;
  dtype: StorageDType;
  includeSource?: boolean;
  threads: number;
  quiet?: boolean;
}

export function registerCompile(program: Command): void {
  program
    .command("compile")
    .description("Compile a text file into a memory (.lccm) that the base model reads instead of the text.")
    .argument("<input>", "UTF-8 text file to compile, or - for stdin")
    .requiredOption("-m, --model <path>", "model folder, llama2.c checkpoint, or a model name inside $LCC_MODELS (required)")
    .requiredOption("-o, --output <file>", "memory file to write, written atomically (required)")
    .option("-r, --ratio <r>", "context tokens per memory token (the compression ratio), at least 1", numberOption("--ratio", 1, 1e6), 16)
    .option("--steps <count>", "optimisation steps per segment", integerOption("--steps", 0), 100)
    .option("--learning-rate <rate>", "AdamW learning rate", numberOption("--learning-rate", 0, Number.MAX_VALUE, true), 1e-2)
    .addOption(new Option("--schedule <name>", "learning-rate schedule").choices(["constant", "cosine"]).default("constant"))
    .option("--warmup-steps <count>", "linear learning-rate warm-up steps", integerOption("--warmup-steps", 0), 0)
    .option("--clip-norm <value>", "clip the global gradient norm to this value; 0 disables clipping", numberOption("--clip-norm", 0, 1e9), 1)
    .option("-s, --seed <value>", "seed of query sampling and adapter initialisation", integerOption("--seed", 0, 2 ** 31 - 1), 0)
    .option("--lora-rank <rank>", "rank of the compile-time LoRA adapters", integerOption("--lora-rank", 1, 4096), 8)
    .option("--lora-alpha <alpha>", "LoRA scale numerator: updates are scaled by alpha / rank", numberOption("--lora-alpha", 0, 1e6, true), 16)
    .option("--lora-targets <list>", "comma-separated projections that get adapters: q,k,v,o,gate,up,down", "q,k,v,o")
    .option("--buffer-init <init>", 'buffer embedding initialisation: "mean" (of the covered context tokens), "shared", or "token:<id>"', "mean")
    .option("--freeze-buffer", "keep the buffer embeddings at their initial values (ablation)")
    .option("--lora-at-read-time", "keep the LoRA on when the memory is read during training (ablation)")
    .option("--reconstruction-loss <name>", 'reconstruction loss: "kl" (KL to the full-context teacher), "ce" (gold-token cross-entropy), or a loss added by a plugin', "kl")
    .option("--queries <count>", "regularisation queries drawn from the pool; 0 disables regularisation (ablation)", integerOption("--queries", 0), 64)
    .option("--answer-tokens <count>", "tokens of each query's teacher answer", integerOption("--answer-tokens", 1), 24)
    .option("--answer-temperature <value>", "sampling temperature of the teacher's answers; 0 answers greedily", numberOption("--answer-temperature", 0, 100), 0)
    .option("--query-pool <pool>", 'query pool: "story-openings", "instructions", a pool added by a plugin, or a JSONL file of {"instruction": ...} lines (default: story-openings)')
    .option("--segment-tokens <count>", "contexts longer than this are split into segments compiled one by one", integerOption("--segment-tokens", 2), 2048)
    .option("--held-out-queries <count>", "queries held out to measure KL for early stopping; 0 disables early stopping", integerOption("--held-out-queries", 0), 0)
    .option("--patience <count>", "early stopping: evaluations without held-out improvement before stopping", integerOption("--patience", 1), 5)
    .option("--max-seconds <seconds>", "stop optimising each segment after this many seconds; 0 means no limit", numberOption("--max-seconds", 0, 1e9), 0)
    .addOption(new Option("--dtype <dtype>", "storage dtype of the memory's keys and values").choices([...STORAGE_DTYPES]).default("float16"))
    .option("--include-source", "store the source text inside the memory file (only its sha256 is stored otherwise)")
    .option("--threads <count>", "onnxruntime intra-op threads; 0 lets onnxruntime choose", integerOption("--threads", 0, 1024), 0)
    .option("-q, --quiet", "print no progress")
    .action(async (input: string, options: CompileCommandOptions) => {
      await compile(input, options);
    });
}

function parseBufferInit(value: string): BufferInit {
  if (value === "mean" || value === "shared") return value;
  const match = /^token:(\d+)$/.exec(value);
  if (match) return { token: Number(match[1]) };
  throw new UsageError(`--buffer-init must be "mean", "shared" or "token:<id>", got "${value}"`);
}

async function queryPoolTokens(resolved: ResolvedModel, pool: string | undefined): Promise<{ name: string; entries: number[][] }> {
  const name = pool ?? "story-openings";
  const texts = hasQueryPool(name) ? [...(await getQueryPool(name))] : await loadQueryPoolFile(name);
  return { name: name.endsWith(".jsonl") ? path.basename(name) : name, entries: texts.map((text) => resolved.tokenizer.encode(text, { addBos: false })) };
}

async function compile(input: string, options: CompileCommandOptions): Promise<void> {
  const bufferInit = parseBufferInit(options.bufferInit);
  await checkOutputFile(options.output, "--output");
  const text = await readTextInput(input);
  if (text.trim().length === 0) throw new CompileInputError(`${input === "-" ? "stdin" : input} is empty; give a text to compile`);

  const resolved = await loadModel(options.model);
  const contextIds = resolved.tokenizer.encode(text, { addBos: false });
  const pool = await queryPoolTokens(resolved, options.queryPool);
  const compileOptions: Partial<CompileOptions> = {
    ratio: options.ratio,
    steps: options.steps,
    learningRate: options.learningRate,
    schedule: options.schedule,
    warmupSteps: options.warmupSteps,
    clipNorm: options.clipNorm,
    seed: options.seed,
    loraRank: options.loraRank,
    loraAlpha: options.loraAlpha,
    loraTargets: options.loraTargets.split(",").map((t) => t.trim()) as CompileOptions["loraTargets"],
    bufferInit,
    trainBuffer: options.freezeBuffer !== true,
    loraAtReadTime: options.loraAtReadTime === true,
    reconstructionLoss: options.reconstructionLoss,
    queries: options.queries,
    answerTokens: options.answerTokens,
    answerTemperature: options.answerTemperature,
    segmentTokens: options.segmentTokens,
    heldOutQueries: options.heldOutQueries,
    earlyStopPatience: options.patience,
    maxSeconds: options.maxSeconds,
    threads: options.threads,
  };

  // Compile with a progress line; Ctrl-C cancels and writes nothing.
  const progress = new ProgressLine(process.stderr, options.quiet === true);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once("SIGINT", onSignal);
  let compiled: Awaited<ReturnType<typeof compileContext>>;
  try {
    compiled = await compileContext({
      model: resolved.model,
      contextIds,
      queryPool: pool.entries,
      options: compileOptions,
      signal: controller.signal,
      onProgress: (event) => {
        const segment = "segments" in event && event.segments > 1 ? ` segment ${event.segment + 1}/${event.segments}` : "";
        if (event.type === "teacher") progress.update(`teacher${segment}`, event.done, event.total, "queries answered");
        if (event.type === "step") {
          const losses = Object.entries(event.losses)
            .map(([name, value]) => `${name} ${value.toFixed(4)}`)
            .join(", ");
          progress.update(
            `compile${segment}`,
            event.step,
            event.steps,
            `loss ${event.loss.toFixed(4)} (${losses}) |g| ${event.gradientNorm.toFixed(3)} ${Math.round(event.tokensPerSecond)} tok/s ETA ${formatSeconds(event.etaSeconds)}`,
          );
        }
        if (event.type === "stopped") {
          progress.finish();
          process.stderr.write(`stopped at step ${event.step}: ${event.reason}\n`);
        }
      },
    });
  } finally {
    process.off("SIGINT", onSignal);
    progress.finish();
  }

  // Write the artifact atomically.
  const memory = toMemoryArtifact(compiled, {
    fingerprint: modelHashes(resolved.model, resolved.tokenizer),
    sourceText: text,
    includeSourceText: options.includeSource === true,
    producerVersion: VERSION,
    extraOptions: { queryPool: pool.name, storageDType: options.dtype },
  });
  await writeMemoryFile(options.output, memory, { dtype: options.dtype, includeSourceText: options.includeSource === true });
  process.stderr.write(
    `wrote ${options.output}: ${compiled.sourceTokens} context tokens -> ${compiled.bufferTokens} memory tokens (${compiled.segments.length} segment${compiled.segments.length > 1 ? "s" : ""}) in ${compiled.wallSeconds.toFixed(1)}s\n`,
  );
}
