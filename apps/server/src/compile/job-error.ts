/**
 * The `error` object of a failed compile job: each failure becomes one of the documented
 * codes, and compiler messages name the API's options rather than the CLI's flags.
 */

import { CompileDivergedError } from "@lcc/compiler";
import { LccError } from "@lcc/tensor";
import { type ApiErrorBody, toApiError } from "../api-error.js";
import { toApiNames } from "./option-names.js";

export type JobError = ApiErrorBody["error"];

function formatLosses(losses: unknown): string {
  if (typeof losses !== "object" || losses === null) return "";
  const parts = Object.entries(losses).map(([name, value]) => `${name} ${String(value)}`);
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}

/** Returns the error object of a job that failed with `error`, and whether the failure is unexpected (a server fault). */
export function jobErrorOf(error: unknown, jobId: string): { error: JobError; unexpected: boolean } {
  // A diverging loss: the options, usually the learning rate, were too aggressive for this text.
  if (error instanceof CompileDivergedError) {
    const step = typeof error.details.step === "number" ? error.details.step + 1 : null;
    const where = step === null ? "" : ` at step ${step}`;
    return {
      error: {
        message: `the training loss stopped being finite${where}${formatLosses(error.details.losses)}, so the job stopped and stored no memory; retry with a lower options.learning_rate, or with options.clip_norm 1`,
        type: "invalid_request_error",
        param: "options.learning_rate",
        code: "compile_diverged",
      },
      unexpected: false,
    };
  }

  // Errors the API maps to a 4xx code (an invalid input, a memory too large for the cache).
  const apiError = toApiError(error);
  if (apiError.status < 500) {
    const body = apiError.body().error;
    return { error: { ...body, message: toApiNames(body.message).message }, unexpected: false };
  }

  // Anything else is a fault of the server; its details stay in the log.
  const name = LccError.isInstance(error) ? ` (${error.name})` : "";
  return {
    error: {
      message: `the compile job failed unexpectedly${name}; the details are in the server's log under jobId ${jobId}`,
      type: "server_error",
      param: null,
      code: "compile_failed",
    },
    unexpected: true,
  };
}
