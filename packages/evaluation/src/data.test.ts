import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseEvaluationData, readEvaluationData } from "./data.js";
import { sharedPath } from "./test/shared.js";

function parseError(text: string): Error & { details: Record<string, unknown> } {
  try {
    parseEvaluationData(text, "data.jsonl");
  } catch (error) {
    return error as Error & { details: Record<string, unknown> };
  }
  throw new Error("expected parseEvaluationData to throw");
}

describe("parseEvaluationData", () => {
  it("detects stories and keeps ids and line numbers", () => {
    const data = parseEvaluationData('{"id": "s1", "text": "Once upon a time."}\n\n{"text": "Tom ran."}\r\n', "data.jsonl");
    expect(data.kind).toBe("stories");
    expect(data.records).toEqual([
      { id: "s1", text: "Once upon a time.", line: 1 },
      { id: "line-3", text: "Tom ran.", line: 3 },
    ]);
  });

  it("detects questions with one or several answers", () => {
    const text = [
      '{"context": "Lily had a red ball.", "question": "What colour?", "answer": "red"}',
      '{"id": 7, "context": "C", "question": "Q", "answer": ["a", "b"]}',
    ].join("\n");
    const data = parseEvaluationData(text, "qa.jsonl");
    expect(data.kind).toBe("qa");
    expect(data.records).toEqual([
      { id: "line-1", context: "Lily had a red ball.", question: "What colour?", answers: ["red"], line: 1 },
      { id: "7", context: "C", question: "Q", answers: ["a", "b"], line: 2 },
    ]);
  });

  it("reads the shared TinyStories file as stories", async () => {
    const data = await readEvaluationData(sharedPath("data", "tinystories", "stories.jsonl"));
    if (data.kind !== "stories") throw new Error(`expected stories, got ${data.kind}`);
    expect(data.records.length).toBe(300);
    expect(data.records[0]?.id).toBe("ts-0001");
    expect(data.records[0]?.text.startsWith("One day, a little girl named Lily found a needle")).toBe(true);
  });

  it("reports every invalid line with its number", () => {
    const text = ['{"text": "fine"}', "{not json", '["an", "array"]', '{"text": ""}', '{"title": "x", "body": "y"}', '{"text": 42}'].join(
      "\n",
    );
    const error = parseError(text);
    expect(error.name).toBe("FileFormatError");
    expect(error.message).toMatch(/^invalid evaluation data in data\.jsonl \(5 invalid lines\)/);
    expect(error.message).toContain("\n  line 2: invalid JSON (");
    expect(error.message).toContain("\n  line 3: expected a JSON object, got an array");
    expect(error.message).toContain('\n  line 4: story record: "text" must be a non-empty string, got an empty string');
    expect(error.message).toContain(
      '\n  line 5: the record has neither "text" (a story) nor "context", "question" and "answer" (a question); its keys are title, body',
    );
    expect(error.message).toContain('\n  line 6: story record: "text" must be a non-empty string, got a number');
    expect(error.details.problems).toHaveLength(5);
  });

  it("names each missing or invalid question field", () => {
    const error = parseError(
      [
        '{"context": "C", "question": "Q", "answer": "A"}',
        '{"context": "C", "answer": []}',
        '{"context": "", "question": "Q", "answer": ["ok", 3]}',
      ].join("\n"),
    );
    expect(error.name).toBe("FileFormatError");
    expect(error.message).toContain(
      '\n  line 2: question record: "question" must be a non-empty string, got nothing; "answer" must be a non-empty string or a non-empty array of non-empty strings, got an array',
    );
    expect(error.message).toContain(
      '\n  line 3: question record: "context" must be a non-empty string, got an empty string; "answer" must be',
    );
  });

  it("rejects stories and questions in one file, in line order", () => {
    const error = parseError(
      [
        '{"text": "a story"}',
        '{"context": "C", "question": "Q", "answer": "A"}',
        "oops",
        '{"context": "C", "question": "Q", "answer": "A"}',
      ].join("\n"),
    );
    expect(error.message).toMatch(/\(3 invalid lines\)/);
    const listed = error.message
      .split("\n")
      .slice(1)
      .map((line) => line.trim());
    expect(listed).toEqual([
      "line 2: a question record in a file of story records; put stories and questions in separate files",
      expect.stringMatching(/^line 3: invalid JSON/),
      "line 4: a question record in a file of story records; put stories and questions in separate files",
    ]);
  });

  it("lists at most 20 problems and counts the rest", () => {
    const error = parseError(Array.from({ length: 25 }, () => "x").join("\n"));
    expect(error.message).toMatch(/\(25 invalid lines\)/);
    expect(error.message).toContain("line 20: invalid JSON");
    expect(error.message).not.toContain("line 21:");
    expect(error.message).toContain("… and 5 more");
  });

  it("rejects a file with no records", () => {
    const error = parseError("\n  \n");
    expect(error.name).toBe("FileFormatError");
    expect(error.message).toMatch(/^evaluation data file data\.jsonl has no records; each line must be a story/);
  });
});

describe("readEvaluationData", () => {
  it("reports a missing file", async () => {
    const missing = path.join(os.tmpdir(), "lcc-no-such-data.jsonl");
    await expect(readEvaluationData(missing)).rejects.toMatchObject({
      name: "FileFormatError",
      message: `evaluation data file not found: ${missing}`,
    });
  });

  it("puts the path in parse errors", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "lcc-eval-data-"));
    const file = path.join(folder, "bad.jsonl");
    await writeFile(file, '{"text": "ok"}\n{"text": null}\n');
    await expect(readEvaluationData(file)).rejects.toThrow(`invalid evaluation data in ${file} (1 invalid line)`);
  });
});
