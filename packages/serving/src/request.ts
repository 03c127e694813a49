/**
 * The requests an engine serves, and their validation at the public boundary.
 */

import type { SamplingOptions } from "@lcc/models";
import { InvalidArgumentError } from "@lcc/tensor";

/** Default of GenerateRequest.maxTokens. */
export const DEFAULT_MAX_TOKENS = 256;

/** The prompt as text (tokenised without BOS) or as token ids (without BOS). Give exactly one. */
export interface PromptInput {
  readonly prompt?: string;
  readonly promptIds?: readonly number[];
}

export interface GenerateRequest extends PromptInput, SamplingOptions {
  /** Ids returned by addMemory, read in this order (see composeCache). Default: none. */
  readonly memories?: readonly string[];
  /** Maximum number of generated tokens. Example: 200. Default 256. */
  readonly maxTokens?: number;
  /** Strings that end generation; the stop string and what follows it are not emitted. Example: ["\n\n"]. */
  readonly stop?: string | readonly string[];
  /** Token ids that end generation and are not emitted. Default: the model's end-of-sequence ids; [] disables. */
  readonly stopTokenIds?: readonly number[];
  /** Aborting it ends the request with finish reason "cancelled". */
  readonly signal?: AbortSignal;
}

export interface ScoreRequest extends PromptInput {
  readonly memories?: readonly string[];
  /**
   * The text scored after the prompt. Its tokens are those of prompt + continuation after
   * the prompt's own tokens, so the prompt must end where a token ends (for example
   * before a space). Give exactly one of continuation and continuationIds.
   */
  readonly continuation?: string;
  readonly continuationIds?: readonly number[];
  readonly signal?: AbortSignal;
}

/** Why generation ended: a stop string or stop token, the token limit or the context window, or cancellation. */
export type FinishReason = "stop" | "length" | "cancelled";

export interface GenerationChunk {
  /**
   * The generated token, or null for a last chunk that only releases text held back
   * until the end (a possible start of a stop string, or an incomplete character).
   */
  readonly tokenId: number | null;
  /**
   * Text that became final with this token; "" while text is held back. Concatenating
   * every chunk's text gives the generated text.
   */
  readonly text: string;
}

export interface GenerationTimings {
  /** Milliseconds waiting for a free slot in the request queue. */
  readonly queueMs: number;
  /** Milliseconds loading and composing the memories and running the prompt through the model. */
  readonly prefillMs: number;
  /** Milliseconds of all decode steps together. */
  readonly decodeMs: number;
  /** Milliseconds from the generate call to the first generated token, or null when none was generated. */
  readonly timeToFirstTokenMs: number | null;
  /** Decode steps per second, or null without decode steps. */
  readonly decodeTokensPerSecond: number | null;
}

export interface GenerationSummary {
  readonly finishReason: FinishReason;
  /** The stop string that ended generation, or null. */
  readonly stopString: string | null;
  /** The stop token id that ended generation, or null. */
  readonly stopTokenId: number | null;
  /** The generated text, the same as the chunks' text concatenated. */
  readonly text: string;
  /** Generated token ids, in order; stop token ids are not included. */
  readonly tokenIds: readonly number[];
  readonly promptTokens: number;
  /** Buffer tokens of all memories read. */
  readonly memoryTokens: number;
  /** Equal to tokenIds.length. */
  readonly completionTokens: number;
  readonly timings: GenerationTimings;
}

export interface ScoreResult {
  readonly continuationIds: readonly number[];
  /** Natural-log probability of each continuation token given everything before it. */
  readonly logProbs: readonly number[];
  /** Sum of logProbs. */
  readonly totalLogProb: number;
  readonly promptTokens: number;
  readonly memoryTokens: number;
}

/** Appends problems of the prompt fields. */
function checkPrompt(problems: string[], request: PromptInput, vocabSize: number): void {
  const hasText = request.prompt !== undefined;
  const hasIds = request.promptIds !== undefined;
  if (hasText === hasIds) problems.push("give exactly one of prompt and promptIds");
  if (hasText && typeof request.prompt !== "string") problems.push(`prompt must be a string, got ${typeof request.prompt}`);
  if (hasIds) checkTokenIds(problems, "promptIds", request.promptIds, vocabSize);
}

function checkTokenIds(problems: string[], name: string, ids: unknown, vocabSize: number): void {
  if (!Array.isArray(ids)) {
    problems.push(`${name} must be an array of token ids`);
    return;
  }
  const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
  if (bad >= 0) problems.push(`${name}[${bad}] is ${String(ids[bad])} but token ids must be integers in [0, ${vocabSize})`);
}

function checkMemories(problems: string[], memories: unknown): void {
  if (memories === undefined) return;
  if (!Array.isArray(memories) || memories.some((id) => typeof id !== "string")) problems.push("memories must be an array of memory ids (strings)");
}

function checkSignal(problems: string[], signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) problems.push("signal must be an AbortSignal");
}

function throwProblems(kind: string, problems: string[]): void {
  if (problems.length > 0) throw new InvalidArgumentError(`invalid ${kind} request:\n  - ${problems.join("\n  - ")}`, { details: { problems } });
}

/** Throws InvalidArgumentError listing every problem of `request`. Sampling options are checked by the Sampler. */
export function validateGenerateRequest(request: GenerateRequest, vocabSize: number): void {
  if (typeof request !== "object" || request === null) throw new InvalidArgumentError(`generate expects a request object, got ${String(request)}`);
  const problems: string[] = [];
  checkPrompt(problems, request, vocabSize);
  checkMemories(problems, request.memories);
  const { maxTokens, stop, stopTokenIds } = request;
  if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 0)) problems.push(`maxTokens must be an integer ≥ 0, got ${String(maxTokens)}`);
  let stops: unknown = stop ?? [];
  if (typeof stops === "string") stops = [stops];
  if (!Array.isArray(stops) || stops.some((s) => typeof s !== "string" || s.length === 0)) problems.push("stop must be a non-empty string or an array of non-empty strings");
  if (stopTokenIds !== undefined) checkTokenIds(problems, "stopTokenIds", stopTokenIds, vocabSize);
  checkSignal(problems, request.signal);
  throwProblems("generate", problems);
}

/** Throws InvalidArgumentError listing every problem of `request`. */
export function validateScoreRequest(request: ScoreRequest, vocabSize: number): void {
  if (typeof request !== "object" || request === null) throw new InvalidArgumentError(`scoreContinuation expects a request object, got ${String(request)}`);
  const problems: string[] = [];
  checkPrompt(problems, request, vocabSize);
  checkMemories(problems, request.memories);
  const hasText = request.continuation !== undefined;
  const hasIds = request.continuationIds !== undefined;
  if (hasText === hasIds) problems.push("give exactly one of continuation and continuationIds");
  if (hasText && typeof request.continuation !== "string") problems.push(`continuation must be a string, got ${typeof request.continuation}`);
  if (hasText && request.prompt === undefined) problems.push("a text continuation needs a text prompt; with promptIds pass continuationIds");
  if (hasIds) checkTokenIds(problems, "continuationIds", request.continuationIds, vocabSize);
  checkSignal(problems, request.signal);
  throwProblems("score", problems);
}
