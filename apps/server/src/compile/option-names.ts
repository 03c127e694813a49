/**
 * Names of the compile options in the HTTP API (snake_case) and in the compiler
 * (camelCase), and the rewriting of compiler messages into the API's names, so that no
 * message of the API names a CLI flag such as `--segment-tokens`.
 */

import type { CompileOptions } from "@lcc/compiler";

/** API option names and the compiler's names. */
export const OPTION_NAMES: ReadonlyMap<string, keyof CompileOptions> = new Map([
  ["ratio", "ratio"],
  ["steps", "steps"],
  ["learning_rate", "learningRate"],
  ["schedule", "schedule"],
  ["warmup_steps", "warmupSteps"],
  ["clip_norm", "clipNorm"],
  ["weight_decay", "weightDecay"],
  ["seed", "seed"],
  ["lora_rank", "loraRank"],
  ["lora_alpha", "loraAlpha"],
  ["lora_targets", "loraTargets"],
  ["buffer_init", "bufferInit"],
  ["train_buffer", "trainBuffer"],
  ["reconstruction_loss", "reconstructionLoss"],
  ["regularisation_loss", "regularisationLoss"],
  ["queries", "queries"],
  ["answer_tokens", "answerTokens"],
  ["segment_tokens", "segmentTokens"],
  ["held_out_queries", "heldOutQueries"],
  ["early_stop_patience", "earlyStopPatience"],
  ["evaluate_every", "evaluateEvery"],
  ["max_seconds", "maxSeconds"],
] as const);

/** Options of the memory file rather than of the compiler. */
export const FILE_OPTION_NAMES: readonly string[] = Object.freeze(["query_pool", "dtype", "include_source"]);

/** Returns every option name the API accepts, in the order the docs list them. */
export function knownOptionNames(): string[] {
  return [...OPTION_NAMES.keys(), ...FILE_OPTION_NAMES];
}

/**
 * Rewrites a compiler message that starts with a compiler option name ("loraTargets must
 * …") to the API's name ("options.lora_targets must …"), and any CLI flag of a compile
 * option in it ("--segment-tokens") to the API's name ("options.segment_tokens"). Returns
 * the message and the API option it starts with, or null.
 */
export function toApiNames(message: string): { message: string; option: string | null } {
  let option: string | null = null;
  let rewritten = message;
  for (const [apiName, compilerName] of OPTION_NAMES) {
    if (rewritten.startsWith(`${compilerName} `)) {
      option = apiName;
      rewritten = `options.${apiName}${rewritten.slice(compilerName.length)}`;
      break;
    }
  }
  rewritten = rewritten.replace(/--([a-z][a-z-]*)/g, (flag: string, name: string) => {
    const apiName = name.replaceAll("-", "_");
    return OPTION_NAMES.has(apiName) ? `options.${apiName}` : flag;
  });
  return { message: rewritten, option };
}
