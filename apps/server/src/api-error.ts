/**
 * Errors as the HTTP API sends them: a status code and OpenAI's error body,
 * `{ "error": { "message", "type", "param", "code" } }`, mapped from the typed errors of
 * the lcc packages and from fastify's request parsing errors.
 */

import { MemoryFormatError, MemoryModelMismatchError } from "@lcc/artifact";
import { CompileInputError, QueryPoolError } from "@lcc/compiler";
import { ContextLengthError } from "@lcc/models";
import { EngineClosedError, MemoryEvictedError, MemoryNotFoundError, MemoryTooLargeError, QueueFullError } from "@lcc/serving";
import { InvalidArgumentError, LccError } from "@lcc/tensor";

/** Values of `error.type` in a response body. */
export type ApiErrorType = "invalid_request_error" | "authentication_error" | "not_found_error" | "rate_limit_error" | "server_error";

export interface ApiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: ApiErrorType;
    /** The request field at fault, e.g. "messages" or "memories[0]", or null. */
    readonly param: string | null;
    /** A stable, machine-readable reason, e.g. "queue_full". */
    readonly code: string;
  };
}

export interface ApiErrorFields {
  readonly status: number;
  readonly type: ApiErrorType;
  readonly code: string;
  readonly param?: string | null;
  readonly cause?: unknown;
  /** Extra response headers, e.g. { "retry-after": "1" }. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** An error with the HTTP status and the body fields of the API's error response. */
export class ApiError extends LccError {
  readonly status: number;
  readonly type: ApiErrorType;
  readonly code: string;
  readonly param: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(message: string, fields: ApiErrorFields) {
    super(message, { cause: fields.cause, details: { status: fields.status, code: fields.code } });
    this.status = fields.status;
    this.type = fields.type;
    this.code = fields.code;
    this.param = fields.param ?? null;
    this.headers = Object.freeze({ ...(fields.headers ?? {}) });
  }

  body(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Returns a 400 invalid_request_error. */
export function badRequest(message: string, code: string, param: string | null = null): ApiError {
  return new ApiError(message, { status: 400, type: "invalid_request_error", code, param });
}

/** Codes of fastify's request parsing errors (fastify 5) and the API error each becomes. */
const FASTIFY_ERRORS: Readonly<Record<string, { status: number; code: string; message: string }>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: "invalid_json", message: "the request body is not valid JSON; send one JSON object" },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: "invalid_json",
    message: "the request body is empty but its content-type is application/json; send a JSON object",
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: "body_too_large", message: "the request body is larger than this endpoint's limit" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: "unsupported_media_type",
    message: "the request's content-type is not supported by this endpoint",
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: "invalid_content_length",
    message: "the request body's length does not match its content-length header",
  },
};

/** The engine's message names its library API (addMemory); the HTTP API's clients need its endpoints. */
function memoryNotFoundMessage(error: MemoryNotFoundError): string {
  const id = typeof error.details.id === "string" ? error.details.id : "(unknown)";
  if (error instanceof MemoryEvictedError) {
    return `the memory ${id} was evicted from the memory cache and cannot be read again from a file; upload it again with POST /v1/memories (a server with a memory folder reads evicted memories from their files)`;
  }
  return `no memory with id ${id} exists on this server; upload it with POST /v1/memories or list them with GET /v1/memories`;
}

/**
 * Maps any error a handler throws to the status and body the API sends. Errors that are
 * not expected (status 500) get a generic message, so that no internal detail leaks; the
 * caller logs the original.
 */
export function toApiError(error: unknown, limits: { readonly bodyLimitBytes?: number } = {}): ApiError {
  if (error instanceof ApiError) return error;

  // Errors of the lcc packages, by class (LccError.isInstance works across package copies).
  if (LccError.isInstance(error)) {
    const message = error.message;
    if (error instanceof QueueFullError) {
      return new ApiError(message, {
        status: 429,
        type: "rate_limit_error",
        code: "queue_full",
        cause: error,
        headers: { "retry-after": "1" },
      });
    }
    if (error instanceof MemoryNotFoundError) {
      return new ApiError(memoryNotFoundMessage(error), {
        status: 404,
        type: "not_found_error",
        code: "memory_not_found",
        param: "memories",
        cause: error,
      });
    }
    if (error instanceof MemoryModelMismatchError) {
      return new ApiError(message, { status: 400, type: "invalid_request_error", code: "memory_model_mismatch", cause: error });
    }
    if (error instanceof MemoryFormatError) {
      return new ApiError(message, { status: 400, type: "invalid_request_error", code: "invalid_memory", cause: error });
    }
    if (error instanceof MemoryTooLargeError) {
      return new ApiError(message, { status: 400, type: "invalid_request_error", code: "memory_too_large", cause: error });
    }
    if (error instanceof ContextLengthError) {
      return new ApiError(message, {
        status: 400,
        type: "invalid_request_error",
        code: "context_length_exceeded",
        param: "messages",
        cause: error,
      });
    }
    if (error instanceof CompileInputError) {
      return new ApiError(message, {
        status: 400,
        type: "invalid_request_error",
        code: "invalid_compile_input",
        param: "text",
        cause: error,
      });
    }
    if (error instanceof QueryPoolError) {
      return new ApiError(message, {
        status: 400,
        type: "invalid_request_error",
        code: "invalid_query_pool",
        param: "options.query_pool",
        cause: error,
      });
    }
    if (error instanceof InvalidArgumentError) {
      return new ApiError(message, { status: 400, type: "invalid_request_error", code: "invalid_value", cause: error });
    }
    if (error instanceof EngineClosedError) {
      return new ApiError("the server is shutting down; retry on another instance or after it restarts", {
        status: 503,
        type: "server_error",
        code: "server_shutting_down",
        cause: error,
      });
    }
  }

  // fastify's body parsing and routing errors carry a code and a 4xx statusCode.
  const fastifyError = error as { code?: unknown; statusCode?: unknown; message?: unknown } | null;
  if (typeof fastifyError?.code === "string" && fastifyError.code in FASTIFY_ERRORS) {
    const known = FASTIFY_ERRORS[fastifyError.code] as { status: number; code: string; message: string };
    let message = known.message;
    if (known.code === "body_too_large" && limits.bodyLimitBytes !== undefined) {
      message += ` of ${limits.bodyLimitBytes} bytes; send a smaller body or raise the server's limit`;
    }
    return new ApiError(message, { status: known.status, type: "invalid_request_error", code: known.code, cause: error });
  }
  const statusCode = typeof fastifyError?.statusCode === "number" ? fastifyError.statusCode : 500;
  if (statusCode >= 400 && statusCode < 500) {
    const message = typeof fastifyError?.message === "string" ? fastifyError.message : "invalid request";
    return new ApiError(message, { status: statusCode, type: "invalid_request_error", code: "invalid_request", cause: error });
  }
  return new ApiError("the server failed to process the request; the error is in its log under this request's id", {
    status: 500,
    type: "server_error",
    code: "internal_error",
    cause: error,
  });
}
