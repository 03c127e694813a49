/**
 * Question answering from a memory. The reader answers a question by greedy generation
 * after the memory, after the full context and after nothing. Each answer is scored by
 * exact match and token F1 against the gold answers.
 */

import type { LanguageModel, TextTokenizer } from "@lcc/models";
import { generateTokens } from "@lcc/models";
import type { ReaderPrefix } from "./baselines.js";
import type { JudgeVerdict } from "./judge.js";
import { type AnswerScore, scoreAnswer } from "./qa-scoring.js";

/**
 * Default text after the context: the question, then the cue for the answer.
 * NOTE: the prompt is plain text. Chat models get no chat template around it, because
 * @lcc/models does not apply chat templates yet.
 */
export const DEFAULT_QA_PROMPT = "\nQuestion: {question}\nAnswer:";

export interface QaAnswer extends AnswerScore {
  /** The generated answer: its first line, trimmed. */
  readonly text: string;
  /** Tokens generated (the answer ends at a newline, the end-of-sequence token or the token budget). */
  readonly tokens: number;
  /** The judge's verdict when a judge was configured. */
  readonly judge?: JudgeVerdict;
}

/** Builds the question's prompt text: `template` with "{question}" replaced. */
export function questionPrompt(template: string, question: string): string {
  return template.split("{question}").join(question);
}

/**
 * Generates a greedy answer after `prefix` (null: no cache, `promptIds` start at position 0)
 * and returns its first non-empty line. Generation stops at a newline that follows some
 * text, at end of sequence, after `maxTokens` tokens, or at the end of the model's window.
 * Returns null when the prompt itself does not fit in the window.
 */
export async function generateAnswer(
  reader: LanguageModel,
  tokenizer: TextTokenizer,
  prefix: ReaderPrefix | null,
  promptIds: readonly number[],
  maxTokens: number,
): Promise<{ text: string; tokens: number } | null> {
  // Cap the answer at the positions left in the window after the prompt.
  const start = prefix?.nextPosition ?? 0;
  const left = reader.config.maxPositions - (start + promptIds.length);
  if (left < 1) return null;
  const budget = Math.min(maxTokens, left);

  const decoder = tokenizer.createStreamDecoder();
  let text = "";
  let tokens = 0;
  const positions = promptIds.map((_, i) => start + i);
  for await (const token of generateTokens(reader, promptIds, { maxTokens: budget, cache: prefix?.cache ?? null, positions })) {
    tokens += 1;
    text += decoder.push(token.id);
    if (text.trimStart().includes("\n")) break;
  }
  text += decoder.flush();
  return { text: (text.trimStart().split("\n")[0] ?? "").trim(), tokens };
}

/** Scores a generated answer (null: it did not fit, and scores 0). */
export function toQaAnswer(generated: { text: string; tokens: number } | null, golds: readonly string[]): QaAnswer | null {
  if (generated === null) return null;
  return { text: generated.text, tokens: generated.tokens, ...scoreAnswer(generated.text, golds) };
}
