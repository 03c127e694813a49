import { readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TokenIdError, TokenizerError } from "./errors.js";
import { LLAMA2C_TOKENIZER_CONFIG, convertLlama2cTokenizer } from "./llama2c/tokenizer-convert.js";
import { sharedPath } from "./test/shared.js";
import { TextTokenizer, endsInIncompleteCharacter } from "./tokenizer.js";

const GOLDEN = JSON.parse(readFileSync(sharedPath("cases", "stories260K-golden.json"), "utf8")) as Record<string, unknown>;
const GREEDY_200 = readFileSync(sharedPath("cases", "stories260K-greedy200.txt"), "utf8");
const TOKENIZER_JSON = convertLlama2cTokenizer(sharedPath("models", "stories260K", "tok512.bin"));

/** Text whose 日本, emoji and ï are not pieces of the 512-token vocabulary, so they use byte tokens. */
const NON_ASCII = "Café in 日本 with a 🙂, naïve!";

function goldenIds(key: string): number[] {
  const ids = GOLDEN[key];
  if (!Array.isArray(ids)) throw new Error(`golden file has no ${key}`);
  return ids as number[];
}

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "lcc-tokenizer-"));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("TextTokenizer on stories260K", () => {
  const tokenizer = TextTokenizer.fromJson(TOKENIZER_JSON, LLAMA2C_TOKENIZER_CONFIG);

  it("reports special ids and vocabulary size", () => {
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.eosTokenIds).toEqual([2]);
    expect(tokenizer.vocabSize).toBe(512);
  });

  it("encodes the golden texts exactly", () => {
    expect(tokenizer.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
    const lily = "Lily and Tom went to the park. They saw a big dog.";
    expect(tokenizer.encode(lily)).toEqual(goldenIds(`encode:${lily}`));
  });

  it("adds BOS only when requested", () => {
    expect(tokenizer.encode("Once upon a time", { addBos: true })).toEqual([1, 403, 407, 261, 378]);
    expect(tokenizer.encode("Once upon a time", { addBos: false })).toEqual([403, 407, 261, 378]);
    expect(tokenizer.encode("")).toEqual([1]);
    expect(tokenizer.encode("", { addBos: false })).toEqual([]);
  });

  it("decodes greedy output to the reference text", () => {
    const text = tokenizer.decode(goldenIds("greedy_from_BOS_first32"));
    expect(text.startsWith("Once upon a time, there was a little girl named Lily.")).toBe(true);
    expect(GREEDY_200.startsWith(text)).toBe(true);
    expect(tokenizer.decode([1, ...goldenIds("greedy_from_BOS_first32")])).toBe(text);
  });

  it("keeps special tokens when asked", () => {
    expect(tokenizer.decode([1, 403, 2], { skipSpecialTokens: false })).toBe("<s> Once</s>");
    expect(tokenizer.decode([1, 403, 2])).toBe("Once");
    expect(tokenizer.decode([])).toBe("");
  });

  it("round-trips non-ASCII text through byte fallback", () => {
    const ids = tokenizer.encode(NON_ASCII);
    const byteTokens = ids.filter((id) => id >= 3 && id <= 258);
    // 日本 (6 UTF-8 bytes), 🙂 (4) and ï (2) are not pieces, but é is.
    expect(byteTokens).toHaveLength(12);
    expect(byteTokens.slice(0, 3)).toEqual([0xe6 + 3, 0x97 + 3, 0xa5 + 3]);
    expect(ids).toContain(485); // é
    expect(tokenizer.decode(ids)).toBe(NON_ASCII);
  });

  it("rejects ids outside the vocabulary", () => {
    for (const id of [512, -1, 1.5, Number.NaN]) {
      expect(() => tokenizer.decode([403, id]), String(id)).toThrow(TokenIdError);
    }
    try {
      tokenizer.decode([512]);
      expect.unreachable("decode(512) should throw");
    } catch (error) {
      expect((error as Error).name).toBe("TokenIdError");
      expect((error as Error).message).toMatch(/token id 512 is outside the vocabulary of 512 tokens \(valid ids are 0 to 511\)/);
      expect((error as TokenIdError).details).toEqual({ id: 512, vocabSize: 512 });
    }
  });

  it("returns copies of its JSON and config", () => {
    const json = tokenizer.toJson() as typeof TOKENIZER_JSON;
    expect(json).toEqual(TOKENIZER_JSON);
    json.model.vocab["▁t"] = 0;
    expect((tokenizer.toJson() as typeof TOKENIZER_JSON).model.vocab["▁t"]).toBe(259);
    expect(tokenizer.tokenizerConfig()).toEqual({ ...LLAMA2C_TOKENIZER_CONFIG });
    const bare = TextTokenizer.fromJson(TOKENIZER_JSON);
    expect(bare.tokenizerConfig()).toEqual({ bos_token: "<s>", clean_up_tokenization_spaces: false });
    const reloaded = TextTokenizer.fromJson(bare.toJson(), bare.tokenizerConfig());
    expect(reloaded.encode(NON_ASCII)).toEqual(tokenizer.encode(NON_ASCII));
  });

  it("finds BOS without a config", () => {
    const bare = TextTokenizer.fromJson(TOKENIZER_JSON);
    expect(bare.bosTokenId).toBe(1);
    expect(bare.eosTokenIds).toEqual([]);
    expect(bare.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
  });
});

describe("TokenStreamDecoder", () => {
  const tokenizer = TextTokenizer.fromJson(TOKENIZER_JSON, LLAMA2C_TOKENIZER_CONFIG);

  it("streams greedy output from BOS", () => {
    const stream = tokenizer.createStreamDecoder();
    const chunks = [1, ...goldenIds("greedy_from_BOS_first32")].map((id) => stream.push(id));
    expect(chunks[0]).toBe("");
    expect(chunks[1]).toBe("Once");
    expect(chunks[2]).toBe(" upon");
    expect(chunks.join("")).toBe(tokenizer.decode(goldenIds("greedy_from_BOS_first32")));
  });

  it("keeps the first space after a prompt", () => {
    const prompt = tokenizer.encode("Once upon a time");
    const stream = tokenizer.createStreamDecoder(prompt);
    const text = goldenIds("greedy_after_prompt_Once_upon_a_time_generated_ids")
      .map((id) => stream.push(id))
      .join("");
    expect(text).toBe(GOLDEN.greedy_after_prompt_text);
    const afterTime = tokenizer.createStreamDecoder(prompt);
    expect(afterTime.push(265)).toBe(" the");
  });

  it("holds back incomplete characters", () => {
    const ids = tokenizer.encode(NON_ASCII);
    const stream = tokenizer.createStreamDecoder();
    const chunks = ids.map((id) => stream.push(id));
    expect(chunks.join("") + stream.flush()).toBe(NON_ASCII);
    for (const chunk of chunks) expect(chunk).not.toContain("\uFFFD");
    // 日 is <0xE6> <0x97> <0xA5>: the first two return nothing and the third returns 日.
    const start = ids.indexOf(0xe6 + 3);
    expect(ids[start - 1]).toBe(410); // "▁"
    expect(chunks[start - 1]).toBe(" ");
    expect(chunks.slice(start, start + 3)).toEqual(["", "", "日"]);
  });

  it("flushes an incomplete character as U+FFFD", () => {
    const stream = tokenizer.createStreamDecoder();
    expect(stream.push(403)).toBe("Once");
    expect(stream.push(0xe6 + 3)).toBe("");
    expect(stream.flush()).toBe("\uFFFD");
    expect(stream.flush()).toBe("");
  });

  it("does not wait after an invalid byte", () => {
    const stream = tokenizer.createStreamDecoder([403]);
    expect(stream.push(0x97 + 3)).toBe("\uFFFD"); // a continuation byte cannot start a character
    expect(stream.push(407)).toBe(" upon");
  });

  it("continues after byte-token prompts", () => {
    const prompt = tokenizer.encode("Hi 日");
    const stream = tokenizer.createStreamDecoder(prompt);
    expect(stream.push(407)).toBe(" upon");
  });

  it("rejects invalid ids", () => {
    const stream = tokenizer.createStreamDecoder();
    expect(() => stream.push(4096)).toThrow(/token id 4096 is outside the vocabulary of 512 tokens/);
    expect(() => tokenizer.createStreamDecoder([-3])).toThrow(TokenIdError);
  });
});

describe("endsInIncompleteCharacter", () => {
  it("classifies UTF-8 tails", () => {
    expect(endsInIncompleteCharacter([])).toBe(false);
    expect(endsInIncompleteCharacter([0x41])).toBe(false);
    expect(endsInIncompleteCharacter([0xc3])).toBe(true); // first byte of é
    expect(endsInIncompleteCharacter([0xc3, 0xa9])).toBe(false);
    expect(endsInIncompleteCharacter([0xe6, 0x97])).toBe(true);
    expect(endsInIncompleteCharacter([0xe6, 0x97, 0xa5])).toBe(false);
    expect(endsInIncompleteCharacter([0xf0, 0x9f, 0x99])).toBe(true);
    expect(endsInIncompleteCharacter([0xf0, 0x9f, 0x99, 0x82])).toBe(false);
    expect(endsInIncompleteCharacter([0x97])).toBe(false); // stray continuation byte
    expect(endsInIncompleteCharacter([0xff])).toBe(false); // never valid in UTF-8
    expect(endsInIncompleteCharacter([0xe6, 0x97, 0xa5, 0xe6])).toBe(true);
  });
});

describe("TextTokenizer.fromFile", () => {
  it("loads tokenizer.json and the config beside it", async () => {
    const folder = join(workDir, "with-config");
    await mkdir(folder);
    writeFileSync(join(folder, "tokenizer.json"), JSON.stringify(TOKENIZER_JSON));
    writeFileSync(join(folder, "tokenizer_config.json"), JSON.stringify(LLAMA2C_TOKENIZER_CONFIG));
    for (const path of [join(folder, "tokenizer.json"), folder]) {
      const tokenizer = await TextTokenizer.fromFile(path);
      expect(tokenizer.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
      expect(tokenizer.eosTokenIds).toEqual([2]);
    }
  });

  it("loads tokenizer.json without a config", async () => {
    const folder = join(workDir, "without-config");
    await mkdir(folder);
    writeFileSync(join(folder, "tokenizer.json"), JSON.stringify(TOKENIZER_JSON));
    const tokenizer = await TextTokenizer.fromFile(join(folder, "tokenizer.json"));
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.eosTokenIds).toEqual([]);
  });

  async function loadError(path: string): Promise<TokenizerError> {
    const error = await TextTokenizer.fromFile(path).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(TokenizerError);
    expect((error as Error).name).toBe("TokenizerError");
    return error as TokenizerError;
  }

  it("rejects a missing file", async () => {
    const path = join(workDir, "nowhere", "tokenizer.json");
    expect((await loadError(path)).message).toBe(`tokenizer file not found: ${path}`);
    const emptyFolder = join(workDir, "empty-folder");
    await mkdir(emptyFolder);
    expect((await loadError(emptyFolder)).message).toMatch(/tokenizer file not found or not readable: .*empty-folder\/tokenizer\.json/);
  });

  it("rejects invalid JSON", async () => {
    const path = join(workDir, "broken.json");
    writeFileSync(path, "{ not json");
    expect((await loadError(path)).message).toMatch(/tokenizer file .*broken\.json is not valid JSON/);
  });

  it("rejects an invalid config beside the tokenizer", async () => {
    const folder = join(workDir, "bad-config");
    await mkdir(folder);
    writeFileSync(join(folder, "tokenizer.json"), JSON.stringify(TOKENIZER_JSON));
    writeFileSync(join(folder, "tokenizer_config.json"), "[");
    expect((await loadError(folder)).message).toMatch(/tokenizer config .*tokenizer_config\.json is not valid JSON/);
  });

  it("lists missing tokenizer.json fields", async () => {
    const path = join(workDir, "fields.json");
    writeFileSync(path, JSON.stringify({ model: { type: "BPE" } }));
    const error = await loadError(path);
    expect(error.message).toMatch(/is not a valid tokenizer\.json/);
    expect(error.message).toContain(`the "decoder" field is missing`);
    expect(error.message).toContain(`"added_tokens" must be an array`);
  });

  it("wraps errors of the tokenizer library", async () => {
    const path = join(workDir, "unknown-normalizer.json");
    writeFileSync(path, JSON.stringify({ ...TOKENIZER_JSON, normalizer: { type: "NoSuchNormalizer" } }));
    expect((await loadError(path)).message).toMatch(/could not be loaded: Unknown Normalizer type: NoSuchNormalizer/);
  });
});
