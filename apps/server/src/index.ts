/**
 * @lcc/server: an HTTP server with OpenAI-compatible chat completions that read compiled
 * memories, an API to upload, compile, list and delete memories, health and Prometheus
 * metrics. docs/server.md is the API reference.
 */

export { LccServer, createServer, startServer } from "./server.js";
export {
  DEFAULT_LIMITS,
  LOG_LEVELS,
  type LogLevel,
  type LogStream,
  type ServerLimits,
  type ServerOptions,
  resolveServerOptions,
} from "./options.js";
export { ApiError, type ApiErrorBody, type ApiErrorType, toApiError } from "./api-error.js";
export { type ChatCompletionCall, parseChatCompletionRequest } from "./chat/request.js";
export { COMPILE_JOB_STATUSES, type CompileJobObject, type CompileJobStatus } from "./compile/jobs.js";
export { JOB_ID_PATTERN, MEMORY_ID_PATTERN } from "./ids.js";
export { VERSION } from "./version.js";
