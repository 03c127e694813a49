/**
 * Exact match and token F1 of an answer against gold answers, with the normalisation of
 * the SQuAD evaluation script: lowercase, drop punctuation, drop the articles a, an and
 * the, collapse whitespace.
 */

/** Punctuation and symbols, Unicode-wide (SQuAD strips ASCII `string.punctuation`, a subset). */
const PUNCTUATION = /[\p{P}\p{S}]/gu;
const ARTICLES = /\b(a|an|the)\b/g;

/** Normalises an answer for comparison: "The Cat's  hat!" -> "cats hat". */
export function normaliseAnswer(text: string): string {
  const lower = text.toLowerCase();
  const withoutPunctuation = lower.replace(PUNCTUATION, "");
  const withoutArticles = withoutPunctuation.replace(ARTICLES, " ");
  return withoutArticles
    .split(/\s+/u)
    .filter((token) => token.length > 0)
    .join(" ");
}

/** Splits the normalised answer into its whitespace-separated tokens. */
export function answerTokens(text: string): string[] {
  const normalised = normaliseAnswer(text);
  return normalised.length === 0 ? [] : normalised.split(" ");
}

/** 1 when the normalised prediction equals the normalised gold answer, else 0. */
export function exactMatch(prediction: string, gold: string): number {
  return normaliseAnswer(prediction) === normaliseAnswer(gold) ? 1 : 0;
}

/**
 * Token F1: the harmonic mean of precision and recall of the tokens the two answers share
 * (counted with multiplicity). Two answers with no tokens after normalisation score 1, and
 * one empty answer against a non-empty one scores 0.
 */
export function tokenF1(prediction: string, gold: string): number {
  const predicted = answerTokens(prediction);
  const expected = answerTokens(gold);
  if (predicted.length === 0 || expected.length === 0) return predicted.length === expected.length ? 1 : 0;

  // Count the tokens the two answers share.
  const remaining = new Map<string, number>();
  for (const token of expected) remaining.set(token, (remaining.get(token) ?? 0) + 1);
  let shared = 0;
  for (const token of predicted) {
    const count = remaining.get(token) ?? 0;
    if (count > 0) {
      shared += 1;
      remaining.set(token, count - 1);
    }
  }
  if (shared === 0) return 0;

  const precision = shared / predicted.length;
  const recall = shared / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

export interface AnswerScore {
  /** 0 or 1. */
  readonly exactMatch: number;
  /** In [0, 1]. */
  readonly f1: number;
}

/** Scores a prediction against every gold answer and keeps the best of each measure. */
export function scoreAnswer(prediction: string, golds: readonly string[]): AnswerScore {
  let bestExact = 0;
  let bestF1 = 0;
  for (const gold of golds) {
    bestExact = Math.max(bestExact, exactMatch(prediction, gold));
    bestF1 = Math.max(bestF1, tokenF1(prediction, gold));
  }
  return { exactMatch: bestExact, f1: bestF1 };
}
