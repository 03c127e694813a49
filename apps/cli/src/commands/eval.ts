/**
 * `lcc eval`: measures memories against full context, no context and equal-budget
 * baselines over a JSONL data file, at several compression ratios, and writes a report.
 */

import { checkOutputFolder } from "../files.js";
import path from "node:path";
import { type CompileOptions, builtInQueryPool, loadQueryPoolFile } from "@lcc/compiler";
import {
  ChatJudge,
  type EvaluationReport,
  DEFAULT_QA_PROMPT,
  type ReportSettings,
  headlineMetric,
  readEvaluationData,
  renderSummaryTable,
  runFidelitySuite,
  runQaSuite,
} from "@lcc/evaluation";
import { LanguageModel, type ResolvedModel, loadModel } from "@lcc/models";
import { type Command, InvalidArgumentError, Option } from "commander";
import { evaluationProgressHandler } from "../eval/progress.js";
import { writeReportFiles } from "../eval/write-report.js";
import { UsageError, integerOption } from "../options.js";
import { ProgressLine } from "../progress-bar.js";

interface EvalCommandOptions {
  model: string;
  data: string;
  ratios: number[];
  stories?: number;
  steps: number;
  queries: number;
  queryPool?: string;
  out: string;
  seed: number;
  alsoCe?: boolean;
  maxAnswerTokens: number;
  qaPrompt: string;
  judgeUrl?: string;
  judgeModel?: string;
  judgeKeyEnv?: string;
  threads: number;
  quiet?: boolean;
}

/** Parses "4,8,16,32" into distinct ratios ≥ 1 in the given order. */
export function parseRatios(value: string): number[] {
  const parts = value.split(",").map((part) => part.trim());
  const ratios = parts.map(Number);
  const bad = parts.filter((part, i) => part === "" || !Number.isFinite(ratios[i]) || (ratios[i] as number) < 1);
  if (bad.length > 0)
    throw new InvalidArgumentError(
      `--ratios must be a comma-separated list of numbers ≥ 1 such as 4,8,16,32; invalid entries: ${bad.map((b) => `"${b}"`).join(", ")}.`,
    );
  if (new Set(ratios).size !== ratios.length) throw new InvalidArgumentError(`--ratios lists a ratio twice: "${value}".`);
  return ratios;
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description(
      'Evaluate memories on a JSONL data file: stories ({"text"}) by continuation fidelity against every equal-budget baseline, ' +
        'or questions ({"context", "question", "answer"}) by exact match and token F1. Writes results.json, results.md, fidelity.svg and fidelity.png.',
    )
    .requiredOption("-m, --model <path>", "model folder, llama2.c checkpoint, or a model name inside $LCC_MODELS (required)")
    .requiredOption("-d, --data <file>", "JSONL data file: one story or one question record per line (required)")
    .addOption(
      new Option("-r, --ratios <list>", "comma-separated compression ratios (context tokens per memory token)")
        .argParser(parseRatios)
        .default([4, 8, 16, 32], "4,8,16,32"),
    )
    .option(
      "--stories <count>",
      "evaluate the first <count> usable records (stories or questions) of the file; default all",
      integerOption("--stories", 1),
    )
    .option("--steps <count>", "optimisation steps of each memory compile", integerOption("--steps", 0), 100)
    .option(
      "--queries <count>",
      "regularisation queries of each memory compile; 0 disables regularisation",
      integerOption("--queries", 0),
      64,
    )
    .option(
      "--query-pool <pool>",
      'query pool: "story-openings", "instructions", or a JSONL file of {"instruction": ...} lines (default: story-openings for stories, instructions for questions)',
    )
    .option("-o, --out <dir>", "folder for the report files (created when missing)", "lcc-eval")
    .option("-s, --seed <value>", "seed of query sampling and adapter initialisation", integerOption("--seed", 0, 2 ** 31 - 1), 0)
    .option(
      "--also-ce",
      "also compile a memory whose reconstruction loss is gold-token cross-entropy (besides KL to the full-context teacher)",
    )
    .option(
      "--max-answer-tokens <count>",
      "questions: maximum tokens of each generated answer",
      integerOption("--max-answer-tokens", 1),
      32,
    )
    .option("--qa-prompt <template>", 'questions: text read after the context; "{question}" is replaced by the question', DEFAULT_QA_PROMPT)
    .option("--judge-url <url>", "questions: base URL of an OpenAI-compatible API whose model grades each answer (off unless given)")
    .option("--judge-model <name>", "questions: model name sent to the judge endpoint")
    .option("--judge-key-env <name>", "questions: environment variable that contains the judge's API key, sent as a bearer token")
    .option("--threads <count>", "onnxruntime intra-op threads; 0 lets onnxruntime choose", integerOption("--threads", 0, 1024), 0)
    .option("-q, --quiet", "print no progress")
    .action(async (options: EvalCommandOptions) => {
      await evaluate(options);
    });
}

/** Creates the judge configured by --judge-url, --judge-model and --judge-key-env; returns undefined when none is set. */
function createJudge(options: EvalCommandOptions): ChatJudge | undefined {
  const judgeRequested = [options.judgeUrl, options.judgeModel, options.judgeKeyEnv].some((value) => value !== undefined);
  if (!judgeRequested) return undefined;
  if (options.judgeUrl === undefined || options.judgeModel === undefined) {
    throw new UsageError("the judge needs both --judge-url and --judge-model");
  }
  let apiKey: string | undefined;
  if (options.judgeKeyEnv !== undefined) {
    apiKey = process.env[options.judgeKeyEnv];
    if (apiKey === undefined || apiKey === "")
      throw new UsageError(`the environment variable ${options.judgeKeyEnv} named by --judge-key-env is not set`);
  }
  return new ChatJudge({ url: options.judgeUrl, model: options.judgeModel, apiKey });
}

async function queryPoolTokens(resolved: ResolvedModel, name: string): Promise<number[][]> {
  const texts = name === "story-openings" || name === "instructions" ? [...builtInQueryPool(name)] : await loadQueryPoolFile(name);
  return texts.map((text) => resolved.tokenizer.encode(text, { addBos: false }));
}

async function evaluate(options: EvalCommandOptions): Promise<void> {
  // Read and check everything before loading the model.
  await checkOutputFolder(options.out, "--out");
  const data = await readEvaluationData(options.data);
  const judge = createJudge(options);
  if (judge !== undefined && data.kind !== "qa") {
    throw new UsageError(`the judge grades answers to questions, but ${options.data} contains stories; drop the --judge-* options`);
  }
  if (!options.qaPrompt.includes("{question}"))
    throw new UsageError(`--qa-prompt must contain "{question}", got ${JSON.stringify(options.qaPrompt)}`);
  const queryPoolName = options.queryPool ?? (data.kind === "qa" ? "instructions" : "story-openings");

  const resolved = await loadModel(options.model);
  const reader = new LanguageModel(resolved.model, { threads: options.threads });
  const queryPool = await queryPoolTokens(resolved, queryPoolName);
  const shared: Partial<CompileOptions> = { steps: options.steps, queries: options.queries, seed: options.seed, threads: options.threads };
  const variants: Record<string, Partial<CompileOptions>> = { "memory (KL reconstruction)": { ...shared, reconstructionLoss: "kl" } };
  if (options.alsoCe === true) variants["memory (gold CE reconstruction)"] = { ...shared, reconstructionLoss: "ce" };

  // Run the suite with a progress line; Ctrl-C cancels the compile in progress.
  const progress = new ProgressLine(process.stderr, options.quiet === true);
  const onProgress = evaluationProgressHandler(progress, options.ratios.length, options.quiet === true);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once("SIGINT", onSignal);
  const common = {
    model: resolved.model,
    reader,
    tokenizer: resolved.tokenizer,
    ratios: options.ratios,
    variants,
    queryPool,
    maxRecords: options.stories,
    onProgress,
    signal: controller.signal,
  };
  const settings: ReportSettings = { ratios: options.ratios, maxRecords: options.stories ?? null, queryPool: queryPoolName, variants };
  const header = {
    format: "lcc-eval",
    version: 1,
    createdAt: new Date().toISOString(),
    model: { name: options.model, path: resolved.path },
    data: options.data,
  } as const;
  let report: EvaluationReport;
  try {
    if (data.kind === "stories") {
      report = { ...header, kind: "stories", settings, ...(await runFidelitySuite({ ...common, stories: data.records })) };
    } else {
      const result = await runQaSuite({
        ...common,
        records: data.records,
        promptTemplate: options.qaPrompt,
        maxAnswerTokens: options.maxAnswerTokens,
        judge,
      });
      const judgeSettings = judge === undefined ? null : { endpoint: judge.endpoint, model: judge.model };
      report = {
        ...header,
        kind: "qa",
        settings: { ...settings, maxAnswerTokens: options.maxAnswerTokens, promptTemplate: options.qaPrompt, judge: judgeSettings },
        ...result,
      };
    }
  } finally {
    process.off("SIGINT", onSignal);
    progress.finish();
    await reader.dispose();
  }

  // Write the files, then print the summary table.
  const written = await writeReportFiles(options.out, report);
  process.stderr.write(`wrote ${written.map((file) => path.relative(process.cwd(), file) || file).join(", ")}\n`);
  process.stdout.write(`${renderSummaryTable(report, headlineMetric(report).key)}\n`);
}
