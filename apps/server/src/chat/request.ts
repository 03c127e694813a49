/**
 * The body of POST /v1/chat/completions: OpenAI's chat completion request, checked
 * field by field, turned into the prompt and sampling settings of one generation.
 *
 * Prompt: the served models are base models without a chat template, so the prompt is the
 * text of every message, in order, joined with "\n". Roles are accepted and not written
 * into the prompt.
 */

import { randomInt } from "node:crypto";
import { ApiError } from "../api-error.js";
import { checkMemoryId } from "../ids.js";

/** A chat completion request after validation. */
export interface ChatCompletionCall {
  readonly model: string;
  readonly prompt: string;
  /** Memory ids to read, in order (the `memories` extension field). */
  readonly memories: readonly string[];
  readonly maxTokens: number;
  readonly temperature: number;
  readonly topP: number;
  /** The `top_k` extension field; 0 keeps every token. */
  readonly topK: number;
  readonly seed: number;
  readonly stop: readonly string[];
  /** The `ignore_eos` extension field: keep generating after an end-of-sequence token. */
  readonly ignoreEos: boolean;
  readonly stream: boolean;
  /** stream_options.include_usage: send a last chunk with the token counts. */
  readonly includeUsage: boolean;
}

export const MESSAGE_ROLES = Object.freeze(["system", "developer", "user", "assistant"]);

/** OpenAI's limit on the number of stop sequences. */
export const MAX_STOP_SEQUENCES = 4;

interface Problem {
  readonly param: string;
  readonly message: string;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === "object") return "an object";
  return String(value);
}

/** Returns the text of one message's content: a string, or an array of text parts. */
function messageText(content: unknown, param: string, problems: Problem[]): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    const texts: string[] = [];
    content.forEach((part, index) => {
      const partParam = `${param}[${index}]`;
      const record = part as { type?: unknown; text?: unknown } | null;
      if (typeof record !== "object" || record === null || record.type !== "text" || typeof record.text !== "string") {
        problems.push({
          param: partParam,
          message: `${partParam} must be a text part { "type": "text", "text": "..." }; other part types (images, audio) are not supported`,
        });
        return;
      }
      texts.push(record.text);
    });
    return texts.join("");
  }
  problems.push({ param, message: `${param} must be a string or an array of text parts, got ${describe(content)}` });
  return "";
}

/** Joins the messages' texts into the prompt; see the module comment. */
function promptOf(messages: unknown, problems: Problem[]): string {
  if (!Array.isArray(messages) || messages.length === 0) {
    problems.push({
      param: "messages",
      message: `messages must be a non-empty array of { role, content } objects, got ${describe(messages)}`,
    });
    return "";
  }
  const texts: string[] = [];
  messages.forEach((message, index) => {
    const param = `messages[${index}]`;
    const record = message as { role?: unknown; content?: unknown } | null;
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      problems.push({ param, message: `${param} must be an object with role and content, got ${describe(message)}` });
      return;
    }
    if (typeof record.role !== "string" || !MESSAGE_ROLES.includes(record.role)) {
      problems.push({
        param: `${param}.role`,
        message: `${param}.role must be one of ${MESSAGE_ROLES.join(", ")}, got ${describe(record.role)}`,
      });
    }
    texts.push(messageText(record.content, `${param}.content`, problems));
  });
  return texts.join("\n");
}

function numberField(
  body: Record<string, unknown>,
  name: string,
  fallback: number,
  check: (value: number) => boolean,
  rule: string,
  problems: Problem[],
): number {
  const value = body[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !check(value)) {
    problems.push({ param: name, message: `${name} must be ${rule}, got ${describe(value)}` });
    return fallback;
  }
  return value;
}

function stopStrings(value: unknown, problems: Problem[]): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length > MAX_STOP_SEQUENCES || list.some((entry) => typeof entry !== "string" || entry.length === 0)) {
    problems.push({
      param: "stop",
      message: `stop must be a non-empty string or an array of at most ${MAX_STOP_SEQUENCES} non-empty strings, got ${describe(value)}`,
    });
    return [];
  }
  return list as string[];
}

function memoryIds(value: unknown, problems: Problem[]): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    problems.push({ param: "memories", message: `memories must be an array of memory ids, got ${describe(value)}` });
    return [];
  }
  const ids: string[] = [];
  value.forEach((id, index) => {
    try {
      ids.push(checkMemoryId(id, `memories[${index}]`));
    } catch (error) {
      problems.push({ param: `memories[${index}]`, message: (error as Error).message });
    }
  });
  return ids;
}

/** Rejects OpenAI features this server does not implement, instead of silently ignoring them. */
function unsupportedFeatures(body: Record<string, unknown>, problems: Problem[]): void {
  const n = body.n;
  if (n !== undefined && n !== null && n !== 1)
    problems.push({ param: "n", message: `n must be 1 (one choice per request), got ${describe(n)}` });
  if (body.logprobs === true) problems.push({ param: "logprobs", message: "logprobs are not supported; leave logprobs unset or false" });
  for (const name of ["tools", "functions"]) {
    const value = body[name];
    if (Array.isArray(value) ? value.length > 0 : value !== undefined && value !== null) {
      problems.push({ param: name, message: `${name} are not supported: the served base model has no tool-calling format` });
    }
  }
  for (const name of ["frequency_penalty", "presence_penalty"]) {
    const value = body[name];
    if (value !== undefined && value !== null && value !== 0)
      problems.push({ param: name, message: `${name} is not supported; leave it unset or 0` });
  }
  const bias = body.logit_bias;
  if (bias !== undefined && bias !== null && (typeof bias !== "object" || Object.keys(bias).length > 0)) {
    problems.push({ param: "logit_bias", message: "logit_bias is not supported; leave it unset or {}" });
  }
}

function maxTokensOf(body: Record<string, unknown>, limit: number, problems: Problem[]): number {
  const legacy = body.max_tokens;
  const current = body.max_completion_tokens;
  const given = (value: unknown) => value !== undefined && value !== null;
  if (given(legacy) && given(current) && legacy !== current) {
    problems.push({ param: "max_tokens", message: "max_tokens and max_completion_tokens differ; send only one of them" });
  }
  const name = given(current) ? "max_completion_tokens" : "max_tokens";
  return numberField(
    body,
    name,
    limit,
    (value) => Number.isInteger(value) && value >= 1 && value <= limit,
    `an integer from 1 to ${limit} (this server's limit)`,
    problems,
  );
}

/**
 * Validates a chat completion body and returns the call it describes. Throws a 400
 * ApiError whose message lists every problem and whose param names the first one.
 * Defaults follow OpenAI's: temperature 1, top_p 1, and a random seed when none is given.
 */
export function parseChatCompletionRequest(body: unknown, limits: { readonly maxTokens: number }): ChatCompletionCall {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(`the request body must be a JSON object, got ${describe(body)}`, {
      status: 400,
      type: "invalid_request_error",
      code: "invalid_request",
      param: null,
    });
  }
  const record = body as Record<string, unknown>;
  const problems: Problem[] = [];

  if (typeof record.model !== "string" || record.model.length === 0)
    problems.push({ param: "model", message: `model must be the served model's id (see GET /v1/models), got ${describe(record.model)}` });
  const prompt = promptOf(record.messages, problems);
  const maxTokens = maxTokensOf(record, limits.maxTokens, problems);
  const temperature = numberField(
    record,
    "temperature",
    1,
    (value) => Number.isFinite(value) && value >= 0 && value <= 2,
    "a number from 0 to 2",
    problems,
  );
  const topP = numberField(
    record,
    "top_p",
    1,
    (value) => Number.isFinite(value) && value > 0 && value <= 1,
    "a number in (0, 1]",
    problems,
  );
  const topK = numberField(record, "top_k", 0, (value) => Number.isInteger(value) && value >= 0, "an integer ≥ 0", problems);
  const seed = numberField(
    record,
    "seed",
    randomInt(2 ** 32),
    (value) => Number.isSafeInteger(value) && value >= 0 && value < 2 ** 32,
    "an integer from 0 to 2^32 - 1",
    problems,
  );
  const stop = stopStrings(record.stop, problems);
  const memories = memoryIds(record.memories, problems);
  unsupportedFeatures(record, problems);

  const booleanField = (name: string, value: unknown): boolean => {
    if (value === undefined || value === null) return false;
    if (typeof value !== "boolean") problems.push({ param: name, message: `${name} must be true or false, got ${describe(value)}` });
    return value === true;
  };
  const stream = booleanField("stream", record.stream);
  const ignoreEos = booleanField("ignore_eos", record.ignore_eos);
  const streamOptions = record.stream_options as { include_usage?: unknown } | null | undefined;
  let includeUsage = false;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (typeof streamOptions !== "object" || !stream) {
      problems.push({ param: "stream_options", message: "stream_options must be an object and is only allowed with stream: true" });
    } else {
      includeUsage = booleanField("stream_options.include_usage", streamOptions.include_usage);
    }
  }
  if (prompt === "" && problems.length === 0)
    problems.push({ param: "messages", message: "the messages contain no text; the model needs a prompt to continue" });

  if (problems.length > 0) {
    const message =
      problems.length === 1
        ? (problems[0] as Problem).message
        : `invalid request:\n  - ${problems.map((problem) => problem.message).join("\n  - ")}`;
    throw new ApiError(message, {
      status: 400,
      type: "invalid_request_error",
      code: "invalid_value",
      param: (problems[0] as Problem).param,
    });
  }
  return {
    model: record.model as string,
    prompt,
    memories,
    maxTokens,
    temperature,
    topP,
    topK,
    seed,
    stop,
    ignoreEos,
    stream,
    includeUsage,
  };
}
