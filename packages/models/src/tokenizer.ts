/**
 * Text ↔ token ids through a Hugging Face `tokenizer.json`, run by @huggingface/tokenizers.
 */

import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";

import { Tokenizer } from "@huggingface/tokenizers";
import { InvalidArgumentError } from "@lcc/tensor";

import { TokenIdError, TokenizerError } from "./errors.js";

/** The `tokenizer_config.json` fields this wrapper reads; other fields pass through. */
export interface TokenizerConfigJson {
  readonly bos_token?: string | { readonly content: string } | null;
  readonly eos_token?: string | { readonly content: string } | null;
  readonly clean_up_tokenization_spaces?: boolean;
  readonly [key: string]: unknown;
}

export interface EncodeOptions {
  /**
   * true: prepend the BOS token and nothing else. false: add no special tokens.
   * Absent: add what the tokenizer's post-processor adds (BOS for Llama tokenizers).
   */
  readonly addBos?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens such as `<s>` and `</s>` from the text (default true). */
  readonly skipSpecialTokens?: boolean;
}

/** Matches the byte-fallback tokens `<0x00>` … `<0xFF>`. */
const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

/** A tokenizer.json loaded with its tokenizer_config.json, with lcc's error classes. */
export class TextTokenizer {
  /** Id of the beginning-of-sequence token, or null when the tokenizer has none. */
  readonly bosTokenId: number | null;
  /** Ids that end generation, from the config's eos_token (empty when it has none). */
  readonly eosTokenIds: readonly number[];
  /** One more than the largest token id, added tokens included. */
  readonly vocabSize: number;

  private readonly tokenizer: Tokenizer;
  private readonly json: unknown;
  private readonly config: TokenizerConfigJson;

  private constructor(tokenizer: Tokenizer, json: unknown, config: TokenizerConfigJson) {
    this.tokenizer = tokenizer;
    this.json = json;
    this.config = config;
    let maxId = -1;
    for (const id of tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.bosTokenId = this.specialTokenId(config.bos_token) ?? this.templateBosId();
    const eos = this.specialTokenId(config.eos_token);
    this.eosTokenIds = Object.freeze(eos === null ? [] : [eos]);
  }

  /**
   * Loads `tokenizer.json` and, when present, the `tokenizer_config.json` beside it. `path`
   * is the tokenizer.json file or the folder that contains it.
   */
  static async fromFile(path: string): Promise<TextTokenizer> {
    let tokenizerPath = path;
    try {
      if ((await stat(path)).isDirectory()) tokenizerPath = join(path, "tokenizer.json");
    } catch (error) {
      throw new TokenizerError(`tokenizer file not found: ${path}`, { cause: error, details: { path } });
    }
    const json = await readJsonFile(tokenizerPath, "tokenizer file");
    const configPath = join(dirname(tokenizerPath), "tokenizer_config.json");
    const hasConfig = await stat(configPath).then(
      (info) => info.isFile(),
      () => false,
    );
    const config = hasConfig ? await readJsonFile(configPath, "tokenizer config") : {};
    return TextTokenizer.fromJson(json, config as TokenizerConfigJson, tokenizerPath);
  }

  /** Builds a tokenizer from parsed tokenizer.json and tokenizer_config.json objects. */
  static fromJson(json: unknown, config: TokenizerConfigJson = {}, source = "tokenizer.json"): TextTokenizer {
    // Check the fields that @huggingface/tokenizers reads without checking.
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new TokenizerError(`${source} must contain a JSON object, not ${Array.isArray(json) ? "an array" : typeof json}`, { details: { path: source } });
    }
    const record = json as Record<string, unknown>;
    const problems: string[] = [];
    for (const key of ["model", "normalizer", "pre_tokenizer", "post_processor", "decoder"]) {
      if (!(key in record)) problems.push(`the "${key}" field is missing`);
    }
    if (!Array.isArray(record.added_tokens)) problems.push(`"added_tokens" must be an array`);
    if (typeof record.model !== "object" || record.model === null) problems.push(`"model" must be an object`);
    if (problems.length > 0) {
      throw new TokenizerError(`${source} is not a valid tokenizer.json: ${problems.join("; ")}`, { details: { path: source, problems } });
    }

    // NOTE: clean_up_tokenization_spaces defaults to false here, unlike transformers,
    // because removing spaces before punctuation would change the decoded text.
    const libraryConfig = { ...config, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces ?? false };
    try {
      return new TextTokenizer(new Tokenizer(json, libraryConfig), structuredClone(json), structuredClone(config));
    } catch (error) {
      throw new TokenizerError(`${source} could not be loaded: ${(error as Error).message}`, { cause: error, details: { path: source } });
    }
  }

  /** Returns a copy of the tokenizer.json object this tokenizer was built from. */
  toJson(): unknown {
    return structuredClone(this.json);
  }

  /**
   * Returns the tokenizer_config.json object to save beside `toJson()`: the config this
   * tokenizer was built with, plus bos_token when only the post-processor names it and
   * clean_up_tokenization_spaces as this wrapper applies it.
   */
  tokenizerConfig(): TokenizerConfigJson {
    const config: Record<string, unknown> = structuredClone({ ...this.config });
    if (config.bos_token === undefined && this.bosTokenId !== null) config.bos_token = this.idToToken(this.bosTokenId);
    config.clean_up_tokenization_spaces ??= false;
    return config;
  }

  /** Encodes text to token ids. EncodeOptions decides which special tokens are added. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new InvalidArgumentError(`encode expects a string but received ${typeof text}`);
    if (options.addBos === undefined) return this.tokenizer.encode(text).ids;
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (!options.addBos) return ids;
    if (this.bosTokenId === null) {
      throw new TokenizerError("this tokenizer defines no BOS token; encode with addBos: false or set bos_token in tokenizer_config.json");
    }
    return [this.bosTokenId, ...ids];
  }

  /** Decodes token ids to text. Throws TokenIdError for an id outside the vocabulary. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    for (const id of ids) this.validateTokenId(id);
    if (ids.length === 0) return "";
    return this.tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  /**
   * Starts an incremental decoder for generated ids. `contextIds` are ids already shown,
   * such as the prompt, and decide whether the first new token keeps its leading space.
   */
  createStreamDecoder(contextIds: readonly number[] = []): TokenStreamDecoder {
    for (const id of contextIds) this.validateTokenId(id);

    // Keep the last token. When it is a byte token, also keep the byte tokens before it
    // and the token before those, so that the context decodes to whole characters.
    let start = contextIds.length - 1;
    while (start > 0 && this.byteTokenValue(contextIds[start] as number) !== null) start--;
    return new TokenStreamDecoder(this, contextIds.slice(Math.max(start, 0)));
  }

  /** Returns the id of a token string, or undefined when the vocabulary lacks it. */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Returns the token string of an id, or undefined when no token has that id. */
  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /** Returns the byte of a byte-fallback token such as `<0xE6>` (230), or null for other ids. */
  byteTokenValue(id: number): number | null {
    const token = this.idToToken(id);
    return token !== undefined && BYTE_TOKEN.test(token) ? Number.parseInt(token.slice(3, 5), 16) : null;
  }

  /** Throws TokenIdError unless `id` is an integer id of this vocabulary. */
  validateTokenId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.tokenizer.id_to_token(id) === undefined) {
      throw new TokenIdError(`token id ${id} is outside the vocabulary of ${this.vocabSize} tokens (valid ids are 0 to ${this.vocabSize - 1})`, {
        details: { id, vocabSize: this.vocabSize },
      });
    }
  }

  private specialTokenId(token: TokenizerConfigJson["bos_token"]): number | null {
    if (token === undefined || token === null) return null;
    const content = typeof token === "string" ? token : token.content;
    return this.tokenizer.token_to_id(content) ?? null;
  }

  /** Returns the first special token of a TemplateProcessing post-processor, if any. */
  private templateBosId(): number | null {
    const processor = this.tokenizer.post_processor as { config?: { type?: string; single?: unknown[] } } | null;
    if (processor?.config?.type !== "TemplateProcessing") return null;
    const first = processor.config.single?.[0] as { SpecialToken?: { id?: string } } | undefined;
    const content = first?.SpecialToken?.id;
    return content === undefined ? null : (this.tokenizer.token_to_id(content) ?? null);
  }
}

/**
 * Turns generated token ids into text one id at a time. `push` returns only the text
 * completed by that id. It holds back byte-fallback tokens that start a UTF-8 character
 * until the character is complete, so no chunk ends in half a character.
 */
export class TokenStreamDecoder {
  private readonly tokenizer: TextTokenizer;
  /** Ids whose text was already returned, kept so the next token keeps its leading space. */
  private context: number[];
  /** Ids whose text is not returned yet. */
  private pending: number[] = [];

  constructor(tokenizer: TextTokenizer, context: readonly number[] = []) {
    this.tokenizer = tokenizer;
    this.context = [...context];
  }

  /** Adds one id and returns the newly completed text, possibly "". */
  push(id: number): string {
    this.tokenizer.validateTokenId(id);
    this.pending.push(id);
    if (endsInIncompleteCharacter(this.trailingBytes())) return "";
    return this.emit(this.tokenizer.decode([...this.context, ...this.pending]));
  }

  /** Returns the text of held-back ids, with U+FFFD for an incomplete character. */
  flush(): string {
    if (this.pending.length === 0) return "";
    return this.emit(this.tokenizer.decode([...this.context, ...this.pending]));
  }

  private emit(text: string): string {
    const contextText = this.tokenizer.decode(this.context);
    const added = text.startsWith(contextText) ? text.slice(contextText.length) : text;
    this.context = this.pending;
    this.pending = [];
    return added;
  }

  /** Bytes of the byte tokens at the end of `pending`, in order. */
  private trailingBytes(): number[] {
    const bytes: number[] = [];
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const byte = this.tokenizer.byteTokenValue(this.pending[i] as number);
      if (byte === null) break;
      bytes.unshift(byte);
    }
    return bytes;
  }
}

/**
 * Returns true when `bytes` end with a valid UTF-8 lead byte followed by fewer
 * continuation bytes than it announces, so that more bytes can complete the character.
 */
export function endsInIncompleteCharacter(bytes: readonly number[]): boolean {
  // Find the last byte that is not a continuation byte (10xxxxxx), at most 3 back.
  let lead = bytes.length - 1;
  while (lead >= 0 && lead >= bytes.length - 3 && ((bytes[lead] as number) & 0xc0) === 0x80) lead--;
  if (lead < 0 || lead < bytes.length - 3) return false;
  const byte = bytes[lead] as number;

  // Lead bytes C2..DF start 2-byte characters, E0..EF 3-byte ones and F0..F4 4-byte ones.
  const length = byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 1;
  return bytes.length - lead < length;
}

async function readJsonFile(path: string, description: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new TokenizerError(`${description} not found or not readable: ${path}`, { cause: error, details: { path } });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new TokenizerError(`${description} ${path} is not valid JSON: ${(error as Error).message}`, { cause: error, details: { path } });
  }
}
