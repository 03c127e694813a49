/**
 * Checks of a compile request against the served model. They run before the job is
 * queued, so that a problem comes back as a 400 instead of a failed job. The buffer
 * initialisation token is checked against the vocabulary, and the segments, the queries
 * and the finished memory against the context window.
 *
 * The layout follows the compiler (@lcc/compiler compileContext and compileSegment): a
 * text is split into segments of `min(segment_tokens, floor(W / 2)) - 1` tokens, each
 * compiled as [BOS; segment] at positions 0 to L - 1 with its K = ceil(tokens / ratio)
 * buffer tokens after it. Training with queries reads [sink; buffer] and then a query of
 * `queryTokens` and an answer of `answer_tokens` tokens, so a segment needs
 * L + K + 1 + queryTokens + answerTokens positions. The finished memory keeps the first
 * segment's positions, L1 to L1 + Ktotal - 1, and a prompt that reads it starts after it.
 */

import type { CompileOptions } from "@lcc/compiler";
import type { LlamaConfig } from "@lcc/models";

export interface CompileProblem {
  readonly param: string;
  readonly message: string;
}

/** Context tokens (BOS excluded) per segment, as the compiler splits a text. */
export function segmentLength(options: CompileOptions, config: LlamaConfig): number {
  return Math.min(options.segmentTokens, Math.floor(config.maxPositions / 2)) - 1;
}

/** Positions a segment of `tokens` context tokens needs for training with queries. */
function trainingPositions(tokens: number, options: CompileOptions): number {
  return tokens + 1 + Math.ceil(tokens / options.ratio) + 1 + options.queryTokens + options.answerTokens;
}

/** Returns the first position after the memory of a `tokens`-token text, where a prompt that reads it starts. */
export function memoryEnd(tokens: number, options: CompileOptions, config: LlamaConfig): number {
  const length = segmentLength(options, config);
  let bufferTokens = 0;
  for (let start = 0; start < tokens; start += length) bufferTokens += Math.ceil(Math.min(length, tokens - start) / options.ratio);
  return Math.min(length, tokens) + 1 + bufferTokens;
}

/** The compile options that decide how a text's segments and memory fit the window. */
export const WINDOW_OPTIONS: readonly (keyof CompileOptions)[] = Object.freeze([
  "ratio",
  "segmentTokens",
  "queries",
  "heldOutQueries",
  "answerTokens",
]);

/** Returns a problem when the buffer initialisation token is outside the model's vocabulary. */
export function checkBufferInit(options: CompileOptions, config: LlamaConfig): CompileProblem[] {
  const init = options.bufferInit;
  if (typeof init !== "object" || init.token < config.vocabSize) return [];
  return [
    {
      param: "options.buffer_init",
      message: `options.buffer_init.token is ${init.token} but ${config.name}'s vocabulary has ${config.vocabSize} tokens (ids 0 to ${config.vocabSize - 1}); pick a token id below ${config.vocabSize}`,
    },
  ];
}

/** Returns every problem of fitting the segments of a `contextTokens`-token text and its memory into the model's window. */
export function checkWindow(contextTokens: number, options: CompileOptions, config: LlamaConfig): CompileProblem[] {
  const problems: CompileProblem[] = [];
  const window = config.maxPositions;

  // Training with queries: the longest segment, its buffer, a query and its teacher answer share the window.
  const withQueries = options.queries + options.heldOutQueries > 0;
  const querySpan = options.queryTokens + options.answerTokens;
  if (withQueries && trainingPositions(1, options) > window) {
    const largest = window - trainingPositions(1, options) + options.answerTokens;
    problems.push({
      param: "options.answer_tokens",
      message:
        `options.answer_tokens is ${options.answerTokens}, so a ${options.queryTokens}-token query and its answer need ${querySpan} positions ` +
        `and not even a one-token segment fits ${config.name}'s context window of ${window}; ` +
        (largest >= 1 ? `lower options.answer_tokens to at most ${largest}` : "set options.queries and options.held_out_queries to 0"),
    });
  } else if (withQueries && contextTokens > 0) {
    const firstSegment = Math.min(segmentLength(options, config), contextTokens);
    const needed = trainingPositions(firstSegment, options);
    if (needed > window) {
      let fitting = firstSegment - 1;
      while (fitting > 1 && trainingPositions(fitting, options) > window) fitting--;
      problems.push({
        param: "options.segment_tokens",
        message:
          `a segment of ${firstSegment} tokens, its BOS, its ${Math.ceil(firstSegment / options.ratio)} buffer tokens and a ${querySpan}-token query and answer ` +
          `need ${needed} positions, but ${config.name}'s context window is ${window}; ` +
          `set options.segment_tokens to at most ${fitting + 1}, lower options.answer_tokens, or raise options.ratio`,
      });
    }
  }

  // The finished memory must leave at least one position for the prompt that reads it.
  if (contextTokens > 0) {
    const end = memoryEnd(contextTokens, options, config);
    if (end >= window) {
      let fitting = contextTokens - 1;
      while (fitting > 1 && memoryEnd(fitting, options, config) >= window) fitting--;
      const start = Math.min(segmentLength(options, config), contextTokens) + 1;
      problems.push({
        param: "text",
        message:
          `the memory of this text would take positions ${start} to ${end - 1}, so a prompt that reads it would start at position ${end}, ` +
          `beyond the last position ${window - 1} of ${config.name}'s context window; ` +
          `send at most ${fitting} tokens at options.ratio ${options.ratio}, raise options.ratio, or lower options.segment_tokens`,
      });
    }
  }
  return problems;
}
