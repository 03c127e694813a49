/**
 * An LLM judge reached through an OpenAI-compatible chat completions endpoint. It decides
 * whether a predicted answer means the same as a gold answer, where exact match and token
 * F1 miss paraphrases. It is only used when a caller constructs it.
 */

import { InvalidArgumentError } from "@lcc/tensor";
import { JudgeError } from "./errors.js";

export interface JudgeOptions {
  /** Base URL of the API (e.g. "http://127.0.0.1:8000/v1") or its full /chat/completions URL. */
  readonly url: string;
  /** Model name sent in each request. Example: "gpt-4o-mini". */
  readonly model: string;
  /** Sent as a bearer token when given. */
  readonly apiKey?: string;
  /** Per-request timeout in milliseconds. Default 60,000. */
  readonly timeoutMs?: number;
  /** Retries after a network error, a timeout, HTTP 429 or HTTP 5xx. Default 2. */
  readonly retries?: number;
  /** Delay before the first retry in milliseconds; doubled for each later one. Default 500. */
  readonly retryDelayMs?: number;
  /** The fetch implementation. Default: the global fetch. */
  readonly fetch?: typeof fetch;
}

export interface JudgeRequest {
  readonly question: string;
  readonly answers: readonly string[];
  readonly prediction: string;
}

export interface JudgeVerdict {
  /** true for CORRECT, false for INCORRECT, null when the reply contains neither. */
  readonly correct: boolean | null;
  /** The judge's reply text. */
  readonly reply: string;
  /** HTTP requests made, retries included. */
  readonly attempts: number;
}

export interface ChatMessage {
  readonly role: "system" | "user";
  readonly content: string;
}

const SYSTEM_PROMPT =
  "You grade answers to reading-comprehension questions. Given a question, one or more reference answers and a candidate answer, " +
  "reply with exactly one word: CORRECT if the candidate means the same as a reference answer, INCORRECT otherwise.";

/** Builds the chat messages that ask the judge about one prediction. */
export function judgeMessages(request: JudgeRequest): ChatMessage[] {
  const references = request.answers.map((answer) => `- ${answer}`).join("\n");
  return [
    { role: "system", content: SYSTEM_PROMPT },
    {
      role: "user",
      content: `Question: ${request.question}\nReference answers:\n${references}\nCandidate answer: ${request.prediction}\nVerdict:`,
    },
  ];
}

/** Reads CORRECT / INCORRECT (or YES / NO) from the start of a reply; null when it is neither. */
export function parseVerdict(reply: string): boolean | null {
  const word = /[A-Za-z]+/.exec(reply)?.[0]?.toUpperCase();
  if (word === "CORRECT" || word === "YES") return true;
  if (word === "INCORRECT" || word === "NO" || word === "WRONG") return false;
  return null;
}

/** Returns the chat completions URL of a base URL: "<base>/chat/completions" unless `base` already ends so. */
export function chatCompletionsUrl(base: string): string {
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new InvalidArgumentError(`the judge URL ${JSON.stringify(base)} is not a valid URL; give one like http://127.0.0.1:8000/v1`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new InvalidArgumentError(
      `the judge URL must use http or https, got ${parsed.protocol.replace(/:$/, "")} in ${JSON.stringify(base)}`,
    );
  }
  const trimmed = parsed.href.replace(/\/+$/, "");
  return trimmed.endsWith("/chat/completions") ? trimmed : `${trimmed}/chat/completions`;
}

/** A judge bound to one endpoint and model. */
export class ChatJudge {
  readonly endpoint: string;
  readonly model: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly fetchImplementation: typeof fetch;

  constructor(options: JudgeOptions) {
    const problems: string[] = [];
    if (typeof options.model !== "string" || options.model.trim().length === 0)
      problems.push(`model must be a non-empty string, got ${JSON.stringify(options.model)}`);
    const timeoutMs = options.timeoutMs ?? 60_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) problems.push(`timeoutMs must be a number > 0, got ${timeoutMs}`);
    const retries = options.retries ?? 2;
    if (!Number.isInteger(retries) || retries < 0) problems.push(`retries must be an integer ≥ 0, got ${retries}`);
    const retryDelayMs = options.retryDelayMs ?? 500;
    if (!Number.isFinite(retryDelayMs) || retryDelayMs < 0) problems.push(`retryDelayMs must be a number ≥ 0, got ${retryDelayMs}`);
    if (problems.length > 0) throw new InvalidArgumentError(`invalid judge options: ${problems.join("; ")}`);

    this.endpoint = chatCompletionsUrl(options.url);
    this.model = options.model;
    this.apiKey = options.apiKey;
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.retryDelayMs = retryDelayMs;
    this.fetchImplementation = options.fetch ?? fetch;
  }

  /** Asks the judge whether `request.prediction` answers the question; throws JudgeError when no valid reply comes. */
  async judge(request: JudgeRequest): Promise<JudgeVerdict> {
    const body = JSON.stringify({ model: this.model, messages: judgeMessages(request), temperature: 0, max_tokens: 8 });
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (this.apiKey !== undefined && this.apiKey.length > 0) headers.authorization = `Bearer ${this.apiKey}`;

    for (let attempt = 1; ; attempt++) {
      const outcome = await this.post(body, headers);

      // Retry transient failures, then give up with the last one.
      if (outcome.retryable && attempt <= this.retries) {
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** (attempt - 1)));
        continue;
      }
      if ("failure" in outcome) {
        throw new JudgeError(`the judge at ${this.endpoint} failed after ${attempt} request${attempt > 1 ? "s" : ""}: ${outcome.failure}`, {
          details: { endpoint: this.endpoint, attempts: attempt },
        });
      }
      const reply = this.readReply(outcome.text);
      return { correct: parseVerdict(reply), reply, attempts: attempt };
    }
  }

  /** One POST; classifies its failure as retryable or not. */
  private async post(
    body: string,
    headers: Record<string, string>,
  ): Promise<{ text: string; retryable: false } | { failure: string; retryable: boolean }> {
    let response: Response;
    try {
      response = await this.fetchImplementation(this.endpoint, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const name = (error as Error).name;
      if (name === "TimeoutError") return { failure: `no response within ${this.timeoutMs} ms`, retryable: true };
      const cause = (error as Error & { cause?: Error }).cause;
      return { failure: `request failed (${(error as Error).message}${cause?.message ? `: ${cause.message}` : ""})`, retryable: true };
    }
    const text = await response.text();
    if (!response.ok) {
      const retryable = response.status === 429 || response.status >= 500;
      return { failure: `HTTP ${response.status} ${response.statusText}: ${text.slice(0, 200)}`, retryable };
    }
    return { text, retryable: false };
  }

  /** Reads the first choice's message content from a chat completion body. */
  private readReply(text: string): string {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new JudgeError(`the judge at ${this.endpoint} returned a body that is not JSON: ${text.slice(0, 200)}`, {
        details: { endpoint: this.endpoint },
      });
    }
    const content = (parsed as { choices?: { message?: { content?: unknown } }[] } | null)?.choices?.[0]?.message?.content;
    if (typeof content !== "string") {
      throw new JudgeError(
        `the judge at ${this.endpoint} returned no choices[0].message.content string; is it an OpenAI-compatible chat completions endpoint? Body: ${text.slice(0, 200)}`,
        {
          details: { endpoint: this.endpoint },
        },
      );
    }
    return content.trim();
  }
}
