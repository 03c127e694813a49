/**
 * Evaluation data files: JSONL with one record a line, either stories ({"text": ...},
 * scored by continuation fidelity) or questions ({"context", "question", "answer"}, scored
 * by exact match and token F1). The kind is detected from the records.
 */

import { readFile } from "node:fs/promises";
import { FileFormatError, InvalidArgumentError } from "@lcc/tensor";

export interface StoryRecord {
  /** The record's "id", or "line-<n>" when it has none. */
  readonly id: string;
  readonly text: string;
  /** 1-based line of the record in its file. */
  readonly line: number;
}

export interface QaRecord {
  readonly id: string;
  readonly context: string;
  readonly question: string;
  /** Gold answers: "answer" as given, or each entry of an "answer" array. */
  readonly answers: readonly string[];
  readonly line: number;
}

export type EvaluationData =
  | { readonly kind: "stories"; readonly records: readonly StoryRecord[] }
  | { readonly kind: "qa"; readonly records: readonly QaRecord[] };

type ParsedLine = { kind: "stories"; record: StoryRecord } | { kind: "qa"; record: QaRecord } | { problem: string };

/** At most this many problems are listed in one error; the count covers all of them. */
const LISTED_PROBLEMS = 20;

const EXPECTED_SHAPES =
  'each line must be a story like {"text": "Once upon a time..."} or a question like {"context": "...", "question": "...", "answer": "..."}';

/** Parses JSONL evaluation data; `source` names the file in messages. Reports every invalid line at once. */
export function parseEvaluationData(text: string, source: string): EvaluationData {
  if (typeof text !== "string") throw new InvalidArgumentError(`evaluation data must be a string, got ${typeof text}`);

  // Parse each non-blank line on its own.
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const stories: StoryRecord[] = [];
  const questions: QaRecord[] = [];
  const problems: string[] = [];
  lines.forEach((content, index) => {
    if (content.trim().length === 0) return;
    const parsed = parseLine(content, index + 1);
    if ("problem" in parsed) problems.push(`line ${index + 1}: ${parsed.problem}`);
    else if (parsed.kind === "stories") stories.push(parsed.record);
    else questions.push(parsed.record);
  });

  // The first valid record sets the kind of the file; records of the other kind are errors.
  if (stories.length > 0 && questions.length > 0) {
    const storiesFirst = (stories[0] as StoryRecord).line < (questions[0] as QaRecord).line;
    const [expected, others] = storiesFirst ? ["story", questions] : ["question", stories];
    for (const record of others) {
      problems.push(
        `line ${record.line}: a ${expected === "story" ? "question" : "story"} record in a file of ${expected} records; put stories and questions in separate files`,
      );
    }
    problems.sort((a, b) => lineOf(a) - lineOf(b));
  }
  if (problems.length > 0) {
    const listed = problems.slice(0, LISTED_PROBLEMS);
    const more = problems.length > listed.length ? `\n  … and ${problems.length - listed.length} more` : "";
    throw new FileFormatError(
      `invalid evaluation data in ${source} (${problems.length} invalid line${problems.length > 1 ? "s" : ""}): ${EXPECTED_SHAPES}\n  ${listed.join("\n  ")}${more}`,
      {
        details: { path: source, problems },
      },
    );
  }
  if (stories.length === 0 && questions.length === 0) {
    throw new FileFormatError(`evaluation data file ${source} has no records; ${EXPECTED_SHAPES}`, { details: { path: source } });
  }
  return stories.length > 0 ? { kind: "stories", records: stories } : { kind: "qa", records: questions };
}

/** Reads and parses a JSONL evaluation data file (see `parseEvaluationData`). */
export async function readEvaluationData(path: string): Promise<EvaluationData> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === "ENOENT"
        ? `evaluation data file not found: ${path}`
        : `could not read evaluation data file ${path}: ${(error as Error).message}`;
    throw new FileFormatError(message, { cause: error, details: { path } });
  }
  return parseEvaluationData(text, path);
}

function lineOf(problem: string): number {
  return Number(/^line (\d+)/.exec(problem)?.[1] ?? 0);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.length === 0 ? "an empty string" : "a string";
  return `a ${typeof value}`;
}

function parseLine(content: string, line: number): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (error) {
    return { problem: `invalid JSON (${(error as Error).message})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { problem: `expected a JSON object, got ${describe(value)}` };

  const record = value as Record<string, unknown>;
  let id = `line-${line}`;
  if (typeof record.id === "string" && record.id.length > 0) id = record.id;
  else if (typeof record.id === "number") id = String(record.id);
  const isQuestion = "context" in record || "question" in record || "answer" in record;

  // A question record: three fields, each checked.
  if (isQuestion) {
    const problems: string[] = [];
    for (const key of ["context", "question"] as const) {
      const field = record[key];
      if (typeof field !== "string" || field.trim().length === 0)
        problems.push(`"${key}" must be a non-empty string, got ${key in record ? describe(field) : "nothing"}`);
    }
    const answer = record.answer;
    const answers = typeof answer === "string" ? [answer] : Array.isArray(answer) ? answer : null;
    if (answers === null || answers.length === 0 || answers.some((entry) => typeof entry !== "string" || entry.trim().length === 0)) {
      problems.push(
        `"answer" must be a non-empty string or a non-empty array of non-empty strings, got ${"answer" in record ? describe(answer) : "nothing"}`,
      );
    }
    if (problems.length > 0) return { problem: `question record: ${problems.join("; ")}` };
    return {
      kind: "qa",
      record: { id, context: record.context as string, question: record.question as string, answers: answers as string[], line },
    };
  }

  // A story record.
  if ("text" in record) {
    if (typeof record.text !== "string" || record.text.trim().length === 0)
      return { problem: `story record: "text" must be a non-empty string, got ${describe(record.text)}` };
    return { kind: "stories", record: { id, text: record.text, line } };
  }
  const keys = Object.keys(record);
  return {
    problem: `the record has neither "text" (a story) nor "context", "question" and "answer" (a question); its keys are ${keys.length > 0 ? keys.join(", ") : "none"}`,
  };
}
