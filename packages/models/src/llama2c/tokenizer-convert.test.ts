import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Tokenizer } from "@huggingface/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TokenizerError } from "../errors.js";
import { sharedPath } from "../test/shared.js";
import { convertLlama2cTokenizer, convertSentencePieceModel } from "./tokenizer-convert.js";

const TOK_BIN = sharedPath("models", "stories260K", "tok512.bin");
const TOK_MODEL = sharedPath("models", "stories260K", "tok512.model");
const GOLDEN = JSON.parse(readFileSync(sharedPath("cases", "stories260K-golden.json"), "utf8")) as Record<string, unknown>;
const STORIES = readFileSync(sharedPath("data", "tinystories", "stories.jsonl"), "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => (JSON.parse(line) as { text: string }).text);

/**
 * Plain re-implementation of llama2.c's encode() (run.c) over the raw tok.bin records:
 * dummy-prefix space, code point lookup with byte fallback at byte + 3, then greedy
 * merging of the adjacent pair whose concatenation has the highest score (leftmost on ties).
 */
function referenceEncoder(tokBinPath: string): (text: string) => number[] {
  const bytes = readFileSync(tokBinPath);
  const ids = new Map<string, number>();
  const scores: number[] = [];
  const texts: string[] = [];
  let offset = 4;
  while (offset < bytes.length) {
    const score = bytes.readFloatLE(offset);
    const length = bytes.readInt32LE(offset + 4);
    const text = bytes.subarray(offset + 8, offset + 8 + length).toString("utf8");
    if (!ids.has(text)) ids.set(text, texts.length);
    scores.push(score);
    texts.push(text);
    offset += 8 + length;
  }
  return (text: string): number[] => {
    const tokens: number[] = [];
    if (text.length > 0) tokens.push(ids.get(" ") as number);
    for (const codePoint of text) {
      const id = ids.get(codePoint);
      if (id !== undefined) tokens.push(id);
      else for (const byte of Buffer.from(codePoint, "utf8")) tokens.push(byte + 3);
    }
    for (;;) {
      let bestScore = -1e10;
      let bestIndex = -1;
      let bestId = -1;
      for (let i = 0; i + 1 < tokens.length; i++) {
        const merged = ids.get((texts[tokens[i] as number] as string) + (texts[tokens[i + 1] as number] as string));
        if (merged !== undefined && (scores[merged] as number) > bestScore) {
          bestScore = scores[merged] as number;
          bestIndex = i;
          bestId = merged;
        }
      }
      if (bestIndex === -1) break;
      tokens.splice(bestIndex, 2, bestId);
    }
    return [1, ...tokens];
  };
}

/** Texts that exercise spaces, punctuation, newlines and byte fallback. */
const EDGE_TEXTS = [
  "",
  " ",
  "a",
  "  two leading spaces",
  "trailing space ",
  "double  space and\ttab",
  "line one\nline two\n\n",
  "Café, naïve, résumé — “quoted” … ok!",
  "日本語のテキスト",
  "emoji 🙂🎉 and flags 🇫🇷",
  "<0x41> and <unk as plain text",
  "\u2009thin\u00a0space\u200ahair",
  "MiXeD CaSe 12345 $%&*()[]{}|\\~`^",
];

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "lcc-tokconv-"));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("convertLlama2cTokenizer", () => {
  const json = convertLlama2cTokenizer(TOK_BIN);
  const tokenizer = new Tokenizer(json, { clean_up_tokenization_spaces: false });
  const reference = referenceEncoder(TOK_BIN);

  it("writes the vocabulary with ▁ for spaces", () => {
    expect(Object.keys(json.model.vocab)).toHaveLength(512);
    expect(json.model.vocab["<unk>"]).toBe(0);
    expect(json.model.vocab["<s>"]).toBe(1);
    expect(json.model.vocab["</s>"]).toBe(2);
    expect(json.model.vocab["<0x00>"]).toBe(3);
    expect(json.model.vocab["<0xFF>"]).toBe(258);
    expect(json.model.vocab["▁t"]).toBe(259);
    expect(json.model.vocab["▁"]).toBe(410);
    expect(Object.keys(json.model.vocab).some((piece) => piece.includes(" "))).toBe(false);
    expect(json.model).toMatchObject({ type: "BPE", byte_fallback: true, fuse_unk: true, unk_token: "<unk>" });
    expect(json.added_tokens.map((token) => [token.id, token.content, token.special])).toEqual([
      [0, "<unk>", true],
      [1, "<s>", true],
      [2, "</s>", true],
    ]);
  });

  it("orders merges by the score of the merged piece", () => {
    const scores = new Map<string, number>();
    const bytes = readFileSync(TOK_BIN);
    let offset = 4;
    while (offset < bytes.length) {
      const length = bytes.readInt32LE(offset + 4);
      const piece = bytes.subarray(offset + 8, offset + 8 + length).toString("utf8").replaceAll(" ", "▁");
      scores.set(piece, bytes.readFloatLE(offset));
      offset += 8 + length;
    }
    const merges = json.model.merges;
    expect(merges[0]).toEqual(["▁", "t"]); // "▁t" has the highest score, 0
    expect(merges[1]).toEqual(["h", "e"]); // "he", score -1
    for (let i = 1; i < merges.length; i++) {
      const previous = scores.get(merges[i - 1]?.join("") ?? "") as number;
      const current = scores.get(merges[i]?.join("") ?? "") as number;
      expect(current, `merge ${i}`).toBeLessThanOrEqual(previous);
    }
    // Every split of "▁the" into two pieces of the vocabulary is a merge.
    const theSplits = merges.filter(([left, right]) => left + right === "▁the").sort();
    const expectedSplits = [1, 2, 3]
      .map((split) => ["▁the".slice(0, split), "▁the".slice(split)])
      .filter(([left, right]) => Object.hasOwn(json.model.vocab, left as string) && Object.hasOwn(json.model.vocab, right as string))
      .sort();
    expect(theSplits).toEqual(expectedSplits);
    expect(theSplits.length).toBeGreaterThan(1);
  });

  it("matches the golden encodings", () => {
    expect(tokenizer.encode("Once upon a time").ids).toEqual(GOLDEN["encode:Once upon a time"]);
    const lily = "Lily and Tom went to the park. They saw a big dog.";
    expect(tokenizer.encode(lily).ids).toEqual(GOLDEN[`encode:${lily}`]);
  });

  it("matches llama2.c's encoder on edge cases", () => {
    for (const text of EDGE_TEXTS) {
      expect(tokenizer.encode(text).ids, JSON.stringify(text)).toEqual(reference(text));
    }
  });

  it("matches llama2.c's encoder on 300 stories", () => {
    expect(STORIES.length).toBe(300);
    for (const [index, story] of STORIES.entries()) {
      expect(tokenizer.encode(story).ids, `story ${index}`).toEqual(reference(story));
    }
  });

  it("reads special token strings in text as special tokens", () => {
    // NOTE: llama2.c would encode "<s>" as the pieces "<", "s" and ">", but Hugging Face
    // tokenizers split added special tokens out of the text first.
    expect(tokenizer.encode("a <s> b").ids).toEqual([1, ...tokenizer.encode("a ", { add_special_tokens: false }).ids, 1, ...tokenizer.encode(" b", { add_special_tokens: false }).ids]);
    expect(reference("a <s> b").slice(1)).not.toContain(1);
  });

  it("checks the expected vocabulary size", () => {
    expect(() => convertLlama2cTokenizer(TOK_BIN, { vocabSize: 32000 })).toThrow(/has 512 tokens but the model expects 32000/);
    expect(convertLlama2cTokenizer(TOK_BIN, { vocabSize: 512 }).model.vocab["▁t"]).toBe(259);
  });
});

describe("convertSentencePieceModel", () => {
  it("produces the same tokenizer.json as the tok.bin converter", () => {
    expect(convertSentencePieceModel(TOK_MODEL)).toEqual(convertLlama2cTokenizer(TOK_BIN));
  });

  it("encodes like llama2.c", () => {
    const tokenizer = new Tokenizer(convertSentencePieceModel(TOK_MODEL), { clean_up_tokenization_spaces: false });
    const reference = referenceEncoder(TOK_BIN);
    for (const text of [...EDGE_TEXTS, ...STORIES.slice(0, 50)]) {
      expect(tokenizer.encode(text).ids, JSON.stringify(text.slice(0, 40))).toEqual(reference(text));
    }
  });
});

describe("tokenizer converter errors", () => {
  function conversionError(convert: () => unknown): TokenizerError {
    try {
      convert();
    } catch (error) {
      expect(error).toBeInstanceOf(TokenizerError);
      expect((error as Error).name).toBe("TokenizerError");
      return error as TokenizerError;
    }
    throw new Error("expected a TokenizerError");
  }

  it("names a missing file", () => {
    const path = join(workDir, "missing.bin");
    expect(conversionError(() => convertLlama2cTokenizer(path)).message).toMatch(/llama2.c tokenizer not found or not readable: .*missing\.bin/);
    expect(conversionError(() => convertSentencePieceModel(path)).message).toMatch(/SentencePiece model not found/);
  });

  it("rejects a truncated tok.bin", () => {
    const path = join(workDir, "truncated.bin");
    writeFileSync(path, readFileSync(TOK_BIN).subarray(0, 3001));
    expect(conversionError(() => convertLlama2cTokenizer(path)).message).toMatch(/is invalid: token \d+ (is truncated|needs \d+ bytes)/);
  });

  it("rejects an empty tok.bin", () => {
    const path = join(workDir, "empty.bin");
    writeFileSync(path, Buffer.alloc(0));
    expect(conversionError(() => convertLlama2cTokenizer(path)).message).toMatch(/has 0 bytes/);
  });

  it("rejects a tok.bin without byte tokens", () => {
    const path = join(workDir, "no-bytes.bin");
    const bytes = Buffer.from(readFileSync(TOK_BIN));
    // Token 3 starts after max_token_length and three records of "<unk>", "\n<s>\n", "\n</s>\n".
    const token3 = 4 + (8 + 5) + (8 + 5) + (8 + 6);
    expect(bytes.subarray(token3 + 8, token3 + 14).toString()).toBe("<0x00>");
    bytes.write("<0x0G>", token3 + 8);
    writeFileSync(path, bytes);
    expect(conversionError(() => convertLlama2cTokenizer(path)).message).toMatch(/token 3 is "<0x0G>" but byte fallback needs <0x00> there/);
  });

  it("rejects a file that is not a ModelProto", () => {
    expect(conversionError(() => convertSentencePieceModel(TOK_BIN)).message).toMatch(/SentencePiece model .* is invalid/);
  });

  it("rejects a unigram model", () => {
    const path = join(workDir, "unigram.model");
    // pieces { piece: "a" } trainer_spec { model_type: UNIGRAM }
    writeFileSync(path, Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x61, 0x12, 0x02, 0x18, 0x01]));
    expect(conversionError(() => convertSentencePieceModel(path)).message).toMatch(/is a UNIGRAM model; only BPE models can be converted/);
  });
});
