/**
 * Converters from llama2.c's `tok*.bin` and SentencePiece's `*.model` to a Hugging Face
 * `tokenizer.json` whose encoding equals llama2.c's `encode()` (run.c).
 *
 * llama2.c encodes a text in three steps: it prepends one space (SentencePiece's
 * "dummy prefix"), looks up every code point as a piece and falls back to one byte token
 * per UTF-8 byte (id = byte + 3) when the code point is not a piece, then repeatedly
 * merges the adjacent pair whose concatenation is the piece with the highest score,
 * taking the leftmost pair on a tie. BOS (id 1) comes first.
 *
 * The Hugging Face equivalent is a BPE model with byte fallback, a normalizer that
 * prepends "▁" and writes every space as "▁", merges ranked by the score of the merged
 * piece, and a TemplateProcessing post-processor that adds `<s>`. Every split of a
 * piece into two pieces becomes a merge, because llama2.c may join any such pair.
 *
 * NOTE: `<unk>`, `<s>` and `</s>` are written as special added tokens, as in Hugging
 * Face's Llama tokenizers, so these strings inside a text encode to their ids. llama2.c
 * encodes them as ordinary characters instead.
 */

import { readFileSync } from "node:fs";

import { TokenizerError } from "../errors.js";
import { type SentencePieceModel, type SentencePieceType, decodeSentencePieceModel } from "./sentencepiece-model.js";

/** SentencePiece's whitespace marker U+2581, written as a plain space in llama2.c files. */
export const SPIECE_UNDERLINE = "\u2581";

/** Number of byte-fallback tokens `<0x00>` … `<0xFF>`. */
const BYTE_TOKEN_COUNT = 256;

// ---------------------------------------------------------------------------
// tokenizer.json shapes (the subset these converters write)
// ---------------------------------------------------------------------------

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface BpeModelJson {
  type: "BPE";
  dropout: null;
  unk_token: string;
  continuing_subword_prefix: null;
  end_of_word_suffix: null;
  fuse_unk: boolean;
  byte_fallback: boolean;
  ignore_merges: boolean;
  vocab: Record<string, number>;
  merges: [string, string][];
}

export interface TokenizerJson {
  version: "1.0";
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: Record<string, unknown> | null;
  pre_tokenizer: null;
  model: BpeModelJson;
  post_processor: Record<string, unknown> | null;
  decoder: Record<string, unknown>;
}

/**
 * `tokenizer_config.json` values for tokenizers converted from llama2.c files, whose
 * special tokens are `<unk>` (0), `<s>` (1) and `</s>` (2).
 */
export const LLAMA2C_TOKENIZER_CONFIG = Object.freeze({
  tokenizer_class: "LlamaTokenizerFast",
  bos_token: "<s>",
  eos_token: "</s>",
  unk_token: "<unk>",
  add_bos_token: true,
  add_eos_token: false,
  clean_up_tokenization_spaces: false,
});

export interface Llama2cTokenizerOptions {
  /** Expected number of tokens, such as the checkpoint's vocab_size. A mismatch throws TokenizerError. */
  readonly vocabSize?: number;
}

// ---------------------------------------------------------------------------
// Shared builder
// ---------------------------------------------------------------------------

type PieceKind = "normal" | "unknown" | "control" | "user" | "unused" | "byte";

/** One vocabulary entry in Hugging Face spelling ("▁" for spaces); its id is its index. */
interface VocabularyPiece {
  readonly piece: string;
  readonly score: number;
  readonly kind: PieceKind;
}

interface BuildOptions {
  readonly unkId: number;
  readonly bosId: number; // -1 when no BOS is added
  readonly addDummyPrefix: boolean;
}

/** Builds the tokenizer.json for a SentencePiece BPE vocabulary with byte fallback. */
function buildTokenizerJson(pieces: readonly VocabularyPiece[], options: BuildOptions, source: string): TokenizerJson {
  // Map every piece to its id. A repeated piece means the file is corrupt.
  const vocab: Record<string, number> = {};
  const duplicates: string[] = [];
  pieces.forEach(({ piece }, id) => {
    if (Object.hasOwn(vocab, piece)) duplicates.push(`${JSON.stringify(piece)} (ids ${vocab[piece]} and ${id})`);
    else vocab[piece] = id;
  });
  if (duplicates.length > 0) {
    throw new TokenizerError(`tokenizer ${source} repeats pieces: ${duplicates.slice(0, 10).join(", ")}`, { details: { path: source } });
  }
  const unk = pieces[options.unkId];
  if (unk === undefined || unk.kind !== "unknown") {
    throw new TokenizerError(`tokenizer ${source} has no unknown token at id ${options.unkId}`, { details: { path: source } });
  }

  // Special and user-defined pieces are matched as whole strings before the BPE model runs.
  const addedTokens: AddedTokenJson[] = [];
  pieces.forEach(({ piece, kind }, id) => {
    if (kind === "unknown" || kind === "control" || kind === "user") {
      addedTokens.push({ id, content: piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: kind !== "user" });
    }
  });

  const normalizers: Record<string, unknown>[] = [];
  if (options.addDummyPrefix) normalizers.push({ type: "Prepend", prepend: SPIECE_UNDERLINE });
  normalizers.push({ type: "Replace", pattern: { String: " " }, content: SPIECE_UNDERLINE });

  const decoders: Record<string, unknown>[] = [
    { type: "Replace", pattern: { String: SPIECE_UNDERLINE }, content: " " },
    { type: "ByteFallback" },
    { type: "Fuse" },
  ];
  if (options.addDummyPrefix) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });

  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: { type: "Sequence", normalizers },
    pre_tokenizer: null,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unk.piece,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: mergesByScore(pieces, vocab),
    },
    post_processor: bosTemplate(pieces, options.bosId),
    decoder: { type: "Sequence", decoders },
  };
}

/**
 * Lists every pair (left, right) of normal pieces whose concatenation is a normal piece,
 * ordered by the merged piece's score, highest first, then by the merged piece's id and the
 * left piece's length. A BPE model applies the lowest rank first, so it reproduces
 * llama2.c's highest-score-first merging.
 *
 * NOTE: llama2.c breaks a tie between two equal-score candidates by position (leftmost
 * first), while BPE ranks are always distinct. The two can differ only when two
 * candidate pairs in one text merge into pieces of equal score.
 */
function mergesByScore(pieces: readonly VocabularyPiece[], vocab: Record<string, number>): [string, string][] {
  const isNormal = (piece: string): boolean => Object.hasOwn(vocab, piece) && pieces[vocab[piece] as number]?.kind === "normal";
  const candidates: { left: string; right: string; score: number; id: number }[] = [];
  pieces.forEach(({ piece, score, kind }, id) => {
    if (kind !== "normal") return;
    const codePoints = Array.from(piece);
    for (let split = 1; split < codePoints.length; split++) {
      const left = codePoints.slice(0, split).join("");
      const right = codePoints.slice(split).join("");
      if (isNormal(left) && isNormal(right)) candidates.push({ left, right, score, id });
    }
  });
  candidates.sort((a, b) => b.score - a.score || a.id - b.id || b.left.length - a.left.length);
  return candidates.map(({ left, right }) => [left, right]);
}

function bosTemplate(pieces: readonly VocabularyPiece[], bosId: number): Record<string, unknown> | null {
  const bos = pieces[bosId];
  if (bosId < 0 || bos === undefined) return null;
  return {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: bos.piece, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos.piece, type_id: 0 } },
      { Sequence: { id: "A", type_id: 0 } },
      { SpecialToken: { id: bos.piece, type_id: 1 } },
      { Sequence: { id: "B", type_id: 1 } },
    ],
    special_tokens: { [bos.piece]: { id: bos.piece, ids: [bosId], tokens: [bos.piece] } },
  };
}

function byteTokenName(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`;
}

function readTokenizerFile(path: string, description: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TokenizerError(`${description} not found or not readable: ${path}\nhint: check the path`, { cause: error, details: { path } });
  }
}

function checkVocabSize(actual: number, options: Llama2cTokenizerOptions, path: string): void {
  if (options.vocabSize !== undefined && options.vocabSize !== actual) {
    throw new TokenizerError(
      `tokenizer ${path} has ${actual} tokens but the model expects ${options.vocabSize}\nhint: use the tokenizer file the checkpoint was trained with`,
      { details: { path, expected: options.vocabSize, actual } },
    );
  }
}

// ---------------------------------------------------------------------------
// llama2.c tok*.bin
// ---------------------------------------------------------------------------

/**
 * Converts a llama2.c tokenizer file to a Hugging Face tokenizer.json object.
 *
 * Layout: int32 max_token_length, then per token a float32 score, an int32 byte length
 * and the UTF-8 bytes, until the end of the file. Ids 0, 1 and 2 are `<unk>`, `<s>` and
 * `</s>`, and ids 3 … 258 are the byte tokens `<0x00>` … `<0xFF>`. Other pieces spell
 * SentencePiece's "▁" as a plain space.
 */
export function convertLlama2cTokenizer(tokBinPath: string, options: Llama2cTokenizerOptions = {}): TokenizerJson {
  const bytes = readTokenizerFile(tokBinPath, "llama2.c tokenizer");
  const invalid = (problem: string): TokenizerError =>
    new TokenizerError(`llama2.c tokenizer ${tokBinPath} is invalid: ${problem}\nhint: pass a tok*.bin written by llama2.c's tokenizer.py`, {
      details: { path: tokBinPath },
    });

  // Read the records: score, length, bytes.
  if (bytes.length < 4) throw invalid(`it has ${bytes.length} bytes, fewer than the 4-byte max_token_length`);
  const maxTokenLength = bytes.readInt32LE(0);
  if (maxTokenLength <= 0) throw invalid(`max_token_length is ${maxTokenLength}`);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const records: { text: string; score: number }[] = [];
  let offset = 4;
  while (offset < bytes.length) {
    const id = records.length;
    if (offset + 8 > bytes.length) throw invalid(`token ${id} is truncated at byte ${offset}`);
    const score = bytes.readFloatLE(offset);
    const length = bytes.readInt32LE(offset + 4);
    if (length <= 0 || length > maxTokenLength) throw invalid(`token ${id} has length ${length}, outside 1 … max_token_length ${maxTokenLength}`);
    if (offset + 8 + length > bytes.length) throw invalid(`token ${id} needs ${length} bytes but the file ends after ${bytes.length - offset - 8}`);
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(offset + 8, offset + 8 + length));
    } catch {
      throw invalid(`token ${id} is not valid UTF-8`);
    }
    records.push({ text, score });
    offset += 8 + length;
  }
  checkVocabSize(records.length, options, tokBinPath);
  if (records.length < 3 + BYTE_TOKEN_COUNT) throw invalid(`it has ${records.length} tokens, fewer than the 3 special and 256 byte tokens`);

  // Check the special tokens, which tokenizer.py writes as "<unk>", "\n<s>\n" and "\n</s>\n".
  const specials: [number, string][] = [
    [0, "<unk>"],
    [1, "<s>"],
    [2, "</s>"],
  ];
  for (const [id, name] of specials) {
    const text = records[id]?.text.trim();
    if (text !== name) throw invalid(`token ${id} is ${JSON.stringify(records[id]?.text)} but llama2.c reserves id ${id} for ${name}`);
  }

  // Name the special tokens, check the byte tokens and respell spaces as "▁".
  const pieces: VocabularyPiece[] = records.map(({ text, score }, id) => {
    if (id === 0) return { piece: "<unk>", score, kind: "unknown" };
    if (id === 1) return { piece: "<s>", score, kind: "control" };
    if (id === 2) return { piece: "</s>", score, kind: "control" };
    if (id < 3 + BYTE_TOKEN_COUNT) {
      const expected = byteTokenName(id - 3);
      if (text !== expected) throw invalid(`token ${id} is ${JSON.stringify(text)} but byte fallback needs ${expected} there`);
      return { piece: text, score, kind: "byte" };
    }
    return { piece: text.replaceAll(" ", SPIECE_UNDERLINE), score, kind: "normal" };
  });

  return buildTokenizerJson(pieces, { unkId: 0, bosId: 1, addDummyPrefix: true }, tokBinPath);
}

// ---------------------------------------------------------------------------
// SentencePiece *.model
// ---------------------------------------------------------------------------

const PIECE_KINDS: Readonly<Record<SentencePieceType, PieceKind>> = {
  NORMAL: "normal",
  UNKNOWN: "unknown",
  CONTROL: "control",
  USER_DEFINED: "user",
  UNUSED: "unused",
  BYTE: "byte",
};

/**
 * Converts a SentencePiece BPE model with byte fallback (such as the `tok*.model` that
 * llama2.c's tokenizer.py reads) to a Hugging Face tokenizer.json object. For a model that
 * llama2.c also exported as `tok*.bin`, the result equals `convertLlama2cTokenizer`'s.
 *
 * NOTE: SentencePiece's remove_extra_whitespaces option (collapse and trim spaces) is not
 * applied, because llama2.c's encoder keeps every space and this converter follows it.
 */
export function convertSentencePieceModel(tokModelPath: string, options: Llama2cTokenizerOptions = {}): TokenizerJson {
  const bytes = readTokenizerFile(tokModelPath, "SentencePiece model");
  const invalid = (problem: string, cause?: unknown): TokenizerError =>
    new TokenizerError(`SentencePiece model ${tokModelPath} is invalid: ${problem}`, { cause, details: { path: tokModelPath } });

  let model: SentencePieceModel;
  try {
    model = decodeSentencePieceModel(bytes);
  } catch (error) {
    throw invalid(`it is not a ModelProto message (${(error as Error).message})`, error);
  }
  if (model.pieces.length === 0) throw invalid("it contains no pieces");
  if (model.modelType !== "BPE") {
    throw new TokenizerError(`SentencePiece model ${tokModelPath} is a ${model.modelType} model; only BPE models can be converted`, {
      details: { path: tokModelPath, modelType: model.modelType },
    });
  }
  if (!model.escapeWhitespaces) throw invalid("escape_whitespaces is off, so spaces are not written as ▁");
  checkVocabSize(model.pieces.length, options, tokModelPath);

  // Byte fallback needs all 256 byte pieces.
  const pieces: VocabularyPiece[] = model.pieces.map(({ piece, score, type }) => ({ piece, score, kind: PIECE_KINDS[type] }));
  const byteNames = new Set(pieces.filter((piece) => piece.kind === "byte").map((piece) => piece.piece));
  const missingBytes = Array.from({ length: BYTE_TOKEN_COUNT }, (_, byte) => byteTokenName(byte)).filter((name) => !byteNames.has(name));
  if (!model.byteFallback || missingBytes.length > 0) {
    throw invalid(`byte fallback is ${model.byteFallback ? "on" : "off"} and ${missingBytes.length} of the 256 byte pieces are missing; llama2.c needs all of them`);
  }

  return buildTokenizerJson(pieces, { unkId: model.unkId, bosId: model.bosId, addDummyPrefix: model.addDummyPrefix }, tokModelPath);
}
