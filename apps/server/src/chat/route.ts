/**
 * POST /v1/chat/completions: one generation per request, returned as one JSON object or
 * streamed as server-sent events in OpenAI's chunk format and ended by `data: [DONE]`.
 *
 * A request is cancelled, and its slot in the engine freed, when its client disconnects
 * or when it runs past limits.requestTimeoutMs. A streamed request waits for its first
 * token before sending headers, so every error up to then (a full queue, an unknown
 * memory, a prompt too long for the context window) gets its own status code. Errors
 * after that arrive as a last event `data: {"error": {...}}`.
 */

import type { Generation, GenerationChunk, GenerationSummary } from "@lcc/serving";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError, toApiError } from "../api-error.js";
import type { ServerContext } from "../context.js";
import { newCompletionId } from "../ids.js";
import { EventStream } from "../sse.js";
import { type ChatCompletionCall, parseChatCompletionRequest } from "./request.js";

type StopCause = "timeout" | "disconnect";

interface CompletionMeta {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

function usageOf(summary: GenerationSummary) {
  return {
    prompt_tokens: summary.promptTokens,
    completion_tokens: summary.completionTokens,
    total_tokens: summary.promptTokens + summary.completionTokens,
    // Extension: buffer tokens of the memories read, which are not part of the prompt.
    memory_tokens: summary.memoryTokens,
  };
}

function completionBody(meta: CompletionMeta, summary: GenerationSummary) {
  return {
    id: meta.id,
    object: "chat.completion",
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: summary.text, refusal: null },
        logprobs: null,
        finish_reason: summary.finishReason,
      },
    ],
    usage: usageOf(summary),
  };
}

function chunkBody(meta: CompletionMeta, delta: Record<string, string>, finishReason: string | null, includeUsage: boolean) {
  return {
    id: meta.id,
    object: "chat.completion.chunk",
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  };
}

function timeoutError(limitMs: number): ApiError {
  return new ApiError(
    `the chat completion did not finish within the server's request timeout of ${limitMs} ms; ask for fewer tokens or retry when the server is less busy`,
    {
      status: 504,
      type: "server_error",
      code: "request_timeout",
    },
  );
}

function shutdownError(): ApiError {
  return new ApiError("the server is shutting down and cancelled the request; retry after it restarts", {
    status: 503,
    type: "server_error",
    code: "server_shutting_down",
  });
}

export function registerChatRoutes(app: FastifyInstance, context: ServerContext): void {
  app.post("/v1/chat/completions", async (request, reply) => {
    const call = parseChatCompletionRequest(request.body, context.limits);
    if (call.model !== context.modelId) {
      throw new ApiError(
        `the model ${JSON.stringify(call.model)} does not exist on this server; it serves ${JSON.stringify(context.modelId)} (see GET /v1/models)`,
        {
          status: 404,
          type: "invalid_request_error",
          code: "model_not_found",
          param: "model",
        },
      );
    }
    await runCompletion(request, reply, context, call);
  });
}

/** The cause of a cancellation, set by the timer or the close listener. */
interface Cancellation {
  cause: StopCause | null;
}

type ChunkIterator = AsyncIterator<GenerationChunk>;

async function runCompletion(
  request: FastifyRequest,
  reply: FastifyReply,
  context: ServerContext,
  call: ChatCompletionCall,
): Promise<void> {
  const meta: CompletionMeta = { id: newCompletionId(), created: Math.floor(Date.now() / 1000), model: context.modelId };

  // Cancel on timeout or on a client that disconnects before the response ended.
  const controller = new AbortController();
  const cancellation: Cancellation = { cause: null };
  const timer = setTimeout(() => {
    cancellation.cause ??= "timeout";
    controller.abort();
  }, context.limits.requestTimeoutMs);
  const onClose = () => {
    if (reply.raw.writableFinished) return;
    cancellation.cause ??= "disconnect";
    controller.abort();
  };
  reply.raw.on("close", onClose);

  try {
    const generation = context.engine.generate({
      prompt: call.prompt,
      memories: call.memories,
      maxTokens: call.maxTokens,
      temperature: call.temperature,
      topP: call.topP,
      topK: call.topK,
      seed: call.seed,
      stop: call.stop,
      ...(call.ignoreEos ? { stopTokenIds: [] } : {}),
      signal: controller.signal,
    });
    const iterator = generation[Symbol.asyncIterator]();

    // Wait for the first token (or the end) before committing to a status code; without
    // streaming, wait for the end.
    let next: IteratorResult<GenerationChunk>;
    try {
      next = await iterator.next();
      while (!call.stream && next.done !== true) next = await iterator.next();
    } catch (error) {
      context.metrics.observeCompletion("error", null);
      throw error;
    }

    if (next.done === true) await respondFinished(request, reply, context, meta, call, await generation.summary, cancellation.cause);
    else await streamFrom(request, reply, context, meta, call, generation, iterator, next.value, cancellation);
  } finally {
    clearTimeout(timer);
    reply.raw.off("close", onClose);
  }
}

/** Responds to a generation that ended before anything was sent: JSON, a short stream, or an error. */
async function respondFinished(
  request: FastifyRequest,
  reply: FastifyReply,
  context: ServerContext,
  meta: CompletionMeta,
  call: ChatCompletionCall,
  summary: GenerationSummary,
  cause: StopCause | null,
): Promise<void> {
  finishLog(request, context, summary, cause);
  if (summary.finishReason !== "cancelled") {
    if (!call.stream) {
      reply.send(completionBody(meta, summary));
      return;
    }
    const stream = EventStream.open(reply);
    await stream.send(JSON.stringify(chunkBody(meta, { role: "assistant", content: "" }, null, call.includeUsage)));
    await finishStream(stream, meta, call, summary);
    return;
  }

  // Cancelled: after a disconnect, no client is left to receive a response.
  if (cause === "disconnect") {
    reply.hijack();
    return;
  }
  throw cause === "timeout" ? timeoutError(context.limits.requestTimeoutMs) : shutdownError();
}

/** Streams a generation whose first chunk is in hand, then the rest as it comes. */
async function streamFrom(
  request: FastifyRequest,
  reply: FastifyReply,
  context: ServerContext,
  meta: CompletionMeta,
  call: ChatCompletionCall,
  generation: Generation,
  iterator: ChunkIterator,
  first: GenerationChunk,
  cancellation: Cancellation,
): Promise<void> {
  const stream = EventStream.open(reply);
  await stream.send(JSON.stringify(chunkBody(meta, { role: "assistant", content: "" }, null, call.includeUsage)));

  // Chunks; a failure from here on can only be reported inside the stream.
  try {
    let next: IteratorResult<GenerationChunk> = { done: false, value: first };
    while (next.done !== true) {
      if (next.value.text !== "") await stream.send(JSON.stringify(chunkBody(meta, { content: next.value.text }, null, call.includeUsage)));
      next = await iterator.next();
    }
  } catch (error) {
    context.metrics.observeCompletion("error", null);
    request.log.error({ err: error }, "chat completion failed after streaming began");
    await stream.send(JSON.stringify(toApiError(error).body()));
    stream.end();
    return;
  }

  // The end: finish and usage chunks and [DONE], or the error that cancelled the generation.
  const summary = await generation.summary;
  finishLog(request, context, summary, cancellation.cause);
  if (summary.finishReason !== "cancelled") {
    await finishStream(stream, meta, call, summary);
    return;
  }
  if (cancellation.cause !== "disconnect") {
    const error = cancellation.cause === "timeout" ? timeoutError(context.limits.requestTimeoutMs) : shutdownError();
    await stream.send(JSON.stringify(error.body()));
  }
  stream.end();
}

/** Sends the finish chunk, the usage chunk when asked for, and [DONE]. */
async function finishStream(
  stream: EventStream,
  meta: CompletionMeta,
  call: ChatCompletionCall,
  summary: GenerationSummary,
): Promise<void> {
  await stream.send(JSON.stringify(chunkBody(meta, {}, summary.finishReason, call.includeUsage)));
  if (call.includeUsage) {
    await stream.send(
      JSON.stringify({
        id: meta.id,
        object: "chat.completion.chunk",
        created: meta.created,
        model: meta.model,
        choices: [],
        usage: usageOf(summary),
      }),
    );
  }
  await stream.send("[DONE]");
  stream.end();
}

/** Records the finished generation in the metrics and the log. */
function finishLog(request: FastifyRequest, context: ServerContext, summary: GenerationSummary, stopCause: StopCause | null): void {
  context.metrics.observeCompletion(summary.finishReason, summary);
  const fields = {
    finishReason: summary.finishReason,
    promptTokens: summary.promptTokens,
    memoryTokens: summary.memoryTokens,
    completionTokens: summary.completionTokens,
    queueMs: Math.round(summary.timings.queueMs),
    prefillMs: Math.round(summary.timings.prefillMs),
    decodeMs: Math.round(summary.timings.decodeMs),
  };
  if (summary.finishReason !== "cancelled") request.log.info(fields, "chat completion finished");
  else if (stopCause === "disconnect") request.log.info(fields, "client disconnected; generation cancelled");
  else if (stopCause === "timeout")
    request.log.warn({ ...fields, timeoutMs: context.limits.requestTimeoutMs }, "chat completion timed out; generation cancelled");
  else request.log.warn(fields, "chat completion cancelled by server shutdown");
}
