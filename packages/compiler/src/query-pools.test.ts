import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TextTokenizer, loadModel } from "@lcc/models";
import { InvalidArgumentError, LccError } from "@lcc/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueryPoolError } from "./errors.js";
import {
  GENERIC_INSTRUCTIONS,
  QUERY_POOL_NAMES,
  type QueryPoolName,
  STORY_OPENINGS,
  builtInQueryPool,
  defaultQueryPoolFor,
  loadQueryPoolFile,
} from "./query-pools.js";
import { sharedPath } from "./test/shared.js";

/** Tokens the compiler keeps from each pool entry (its default queryTokens). */
const QUERY_TOKENS = 8;

/** Phrases that would make a query depend on a context it cannot see. */
const CONTEXT_REFERENCE = /\b(context|document|passage|above|excerpt|article)\b|\bthe text\b/i;

const pools: [string, readonly string[]][] = [
  ["GENERIC_INSTRUCTIONS", GENERIC_INSTRUCTIONS],
  ["STORY_OPENINGS", STORY_OPENINGS],
];

/** Lowercase, with runs of white space and trailing punctuation folded, so near-duplicates compare equal. */
function normalise(entry: string): string {
  return entry.toLowerCase().replace(/\s+/g, " ").replace(/[.?!]+$/, "").trim();
}

function words(entry: string): number {
  return entry.trim().split(/\s+/).length;
}

describe.each(pools)("%s", (_name, pool) => {
  it("has at least 96 entries", () => {
    expect(pool.length).toBeGreaterThanOrEqual(96);
  });

  it("has no duplicates", () => {
    const seen = new Map<string, string>();
    const duplicates: string[] = [];
    for (const entry of pool) {
      const key = normalise(entry);
      if (seen.has(key)) duplicates.push(`${JSON.stringify(seen.get(key))} and ${JSON.stringify(entry)}`);
      seen.set(key, entry);
    }
    expect(duplicates).toEqual([]);
  });

  it("never refers to a context", () => {
    expect(pool.filter((entry) => CONTEXT_REFERENCE.test(entry))).toEqual([]);
  });

  it("entries are trimmed single lines", () => {
    const malformed = pool.filter((entry) => entry.length === 0 || entry !== entry.trim() || /[\r\n\t]/.test(entry));
    expect(malformed).toEqual([]);
  });

  it("entries have fewer than 25 words", () => {
    expect(pool.filter((entry) => words(entry) >= 25)).toEqual([]);
  });

  it("is frozen", () => {
    expect(Object.isFrozen(pool)).toBe(true);
    expect(() => (pool as string[]).push("extra")).toThrow(TypeError);
  });
});

describe("GENERIC_INSTRUCTIONS content", () => {
  it("covers writing, reasoning, coding, advice, definitions and lists", () => {
    const count = (pattern: RegExp) => GENERIC_INSTRUCTIONS.filter((entry) => pattern.test(entry)).length;
    expect(count(/^(Write|Compose|Draft)\b/)).toBeGreaterThanOrEqual(8);
    expect(count(/\b(Python|JavaScript|SQL|git|regular expression|function)\b/)).toBeGreaterThanOrEqual(5);
    expect(count(/^(How (can|do|often) I|What should I|Give me tips)\b/)).toBeGreaterThanOrEqual(8);
    expect(count(/^(Define|What is|What does|Explain)\b/)).toBeGreaterThanOrEqual(10);
    expect(count(/^(List|Name)\b/)).toBeGreaterThanOrEqual(6);
    expect(count(/\d/)).toBeGreaterThanOrEqual(8);
  });
});

describe("STORY_OPENINGS content", () => {
  it("uses only plain ASCII words and punctuation", () => {
    expect(STORY_OPENINGS.filter((entry) => !/^[A-Za-z][A-Za-z ,.']*$/.test(entry))).toEqual([]);
  });

  it("breaks off mid-sentence", () => {
    expect(STORY_OPENINGS.filter((entry) => /[.!?]$/.test(entry) && !entry.endsWith("Mr."))).toEqual([]);
  });

  it("varies its first words", () => {
    const firstTwoWords = new Set(STORY_OPENINGS.map((entry) => entry.split(" ").slice(0, 2).join(" ")));
    expect(firstTwoWords.size).toBeGreaterThanOrEqual(80);
  });
});

describe("STORY_OPENINGS with the stories260K tokenizer", () => {
  let tokenizer: TextTokenizer;

  beforeAll(async () => {
    tokenizer = (await loadModel(sharedPath("models", "stories260K"))).tokenizer;
  });

  it("every opening has at least 8 tokens", () => {
    const short = STORY_OPENINGS.map((entry) => ({ entry, tokens: tokenizer.encode(entry, { addBos: false }).length })).filter(
      ({ tokens }) => tokens < QUERY_TOKENS,
    );
    expect(short).toEqual([]);
  });

  it("first 8 tokens differ between openings", () => {
    const queries = new Map<string, string>();
    const collisions: string[] = [];
    for (const entry of STORY_OPENINGS) {
      const key = tokenizer.encode(entry, { addBos: false }).slice(0, QUERY_TOKENS).join(",");
      const earlier = queries.get(key);
      if (earlier !== undefined) collisions.push(`${JSON.stringify(earlier)} and ${JSON.stringify(entry)}`);
      queries.set(key, entry);
    }
    expect(collisions).toEqual([]);
  });

  it("tokens decode back to the opening", () => {
    for (const entry of STORY_OPENINGS.slice(0, 10)) {
      expect(tokenizer.decode(tokenizer.encode(entry, { addBos: false }))).toBe(entry);
    }
  });
});

describe("builtInQueryPool and defaultQueryPoolFor", () => {
  it("returns each built-in pool by name", () => {
    expect(builtInQueryPool("instructions")).toBe(GENERIC_INSTRUCTIONS);
    expect(builtInQueryPool("story-openings")).toBe(STORY_OPENINGS);
    expect(QUERY_POOL_NAMES).toEqual(["instructions", "story-openings"]);
  });

  it("rejects an unknown pool name", () => {
    const unknown = "stories" as QueryPoolName;
    expect(() => builtInQueryPool(unknown)).toThrow(InvalidArgumentError);
    expect(() => builtInQueryPool(unknown)).toThrow(/unknown built-in query pool "stories"; use "instructions" or "story-openings"/);
  });

  it("picks instructions for chat models", () => {
    expect(defaultQueryPoolFor(true)).toBe("instructions");
  });

  it("picks story openings for base models", () => {
    expect(defaultQueryPoolFor(false)).toBe("story-openings");
  });

  it("rejects a non-boolean flag", () => {
    expect(() => defaultQueryPoolFor("yes" as unknown as boolean)).toThrow(InvalidArgumentError);
  });
});

describe("loadQueryPoolFile", () => {
  let folder: string;
  let fileCount = 0;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "lcc-query-pools-"));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function poolFile(content: string): Promise<string> {
    fileCount += 1;
    const path = join(folder, `pool-${fileCount}.jsonl`);
    await writeFile(path, content, "utf8");
    return path;
  }

  /** Loads `content` and returns the QueryPoolError it raises. */
  async function loadError(content: string): Promise<QueryPoolError> {
    const path = await poolFile(content);
    const error = await loadQueryPoolFile(path).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(QueryPoolError);
    return error as QueryPoolError;
  }

  it("round-trips a valid file", async () => {
    const entries = ["Explain recursion.", 'Say "hi" in French.', "Liste trois fruits, s'il te plaît. ✓", "  keeps inner  spacing  "];
    const path = await poolFile(`${entries.map((instruction) => JSON.stringify({ instruction })).join("\n")}\n`);
    expect(await loadQueryPoolFile(path)).toEqual(entries);
  });

  it("skips blank lines and allows extra keys", async () => {
    const content = [
      "",
      '{"instruction": "First one.", "source": "handwritten", "id": 7}',
      "   ",
      '{"id": 8, "instruction": "Second one."}',
      "",
    ].join("\n");
    expect(await loadQueryPoolFile(await poolFile(content))).toEqual(["First one.", "Second one."]);
  });

  it("accepts CRLF line ends and a byte order mark", async () => {
    const content = '\uFEFF{"instruction": "First."}\r\n{"instruction": "Second."}\r\n';
    expect(await loadQueryPoolFile(await poolFile(content))).toEqual(["First.", "Second."]);
  });

  it("reports invalid JSON with its line number", async () => {
    const error = await loadError('{"instruction": "ok"}\n\n{"instruction": "unterminated}\n');
    expect(error.name).toBe("QueryPoolError");
    expect(error.message).toMatch(/\n {2}line 3: invalid JSON \(/);
    expect(error.message).not.toMatch(/line 1:/);
  });

  it("reports a missing instruction", async () => {
    const error = await loadError('{"instruction": "ok"}\n{"prompt": "wrong key"}\n');
    expect(error.message).toMatch(/line 2: missing "instruction"/);
  });

  it.each([
    ['{"instruction": 42}', /line 1: "instruction" must be a string, got a number/],
    ['{"instruction": null}', /line 1: "instruction" must be a string, got null/],
    ['{"instruction": ["a", "b"]}', /line 1: "instruction" must be a string, got an array/],
    ['{"instruction": ""}', /line 1: "instruction" is empty/],
    ['{"instruction": "  \\t "}', /line 1: "instruction" is empty/],
    ['["instruction", "x"]', /line 1: expected a JSON object, got an array/],
    ['"Explain recursion."', /line 1: expected a JSON object, got a string/],
    ["null", /line 1: expected a JSON object, got null/],
  ])("reports %s", async (line, pattern) => {
    const error = await loadError(`${line}\n`);
    expect(error.message).toMatch(pattern);
  });

  it("reports every problem at once", async () => {
    const content = [
      '{"instruction": "good"}', // 1
      "{not json", // 2
      '{"instruction": 3}', // 3
      "", // 4
      '{"text": "x"}', // 5
      '{"instruction": "also good"}', // 6
      '{"instruction": ""}', // 7
    ].join("\n");
    const error = await loadError(content);
    expect(error.message).toMatch(/^invalid query pool file .*pool-\d+\.jsonl \(4 of 6 entries\)/);
    const lines = error.message.split("\n").slice(1);
    expect(lines.map((line) => line.trim().split(":")[0])).toEqual(["line 2", "line 3", "line 5", "line 7"]);
    expect(error.details.problems).toHaveLength(4);
  });

  it("rejects an empty file", async () => {
    const path = await poolFile("");
    await expect(loadQueryPoolFile(path)).rejects.toThrow(QueryPoolError);
    await expect(loadQueryPoolFile(path)).rejects.toThrow(`query pool file ${path} has no entries`);
  });

  it("rejects a file of blank lines", async () => {
    const error = await loadError("\n   \n\r\n");
    expect(error.message).toMatch(/has no entries/);
  });

  it("names the path of a missing file", async () => {
    const path = join(folder, "does-not-exist.jsonl");
    const error = await loadQueryPoolFile(path).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(QueryPoolError);
    expect(LccError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain(`query pool file not found: ${path}`);
    expect((error as QueryPoolError).details.path).toBe(path);
  });

  it("reports a folder as unreadable", async () => {
    const path = join(folder, "a-folder.jsonl");
    await mkdir(path);
    await expect(loadQueryPoolFile(path)).rejects.toThrow(new RegExp(`could not read query pool file ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  });

  it("rejects an empty path", async () => {
    await expect(loadQueryPoolFile("")).rejects.toThrow(InvalidArgumentError);
  });
});
