/**
 * Identifiers in URLs and request bodies. Memory ids are sha256 digests and compile job
 * ids are random 128-bit numbers, both in lowercase hexadecimal, so an id that passes
 * these checks can never name a path outside the memory folder.
 */

import { randomBytes } from "node:crypto";
import { badRequest } from "./api-error.js";

/** A memory id: the lowercase hexadecimal sha256 of the memory's payload (64 characters). */
export const MEMORY_ID_PATTERN = /^[0-9a-f]{64}$/;

/** A compile job id: 32 lowercase hexadecimal characters. */
export const JOB_ID_PATTERN = /^[0-9a-f]{32}$/;

/** Shortens an untrusted value for an error message. */
function preview(value: unknown): string {
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Returns `value` when it is a valid memory id and throws a 400 ApiError naming `param` otherwise. */
export function checkMemoryId(value: unknown, param: string): string {
  if (typeof value !== "string" || !MEMORY_ID_PATTERN.test(value)) {
    throw badRequest(
      `${param} must be a memory id (64 lowercase hexadecimal characters, as returned by POST /v1/memories), got ${preview(value)}`,
      "invalid_memory_id",
      param,
    );
  }
  return value;
}

/** Returns `value` when it is a valid compile job id and throws a 400 ApiError otherwise. */
export function checkJobId(value: unknown): string {
  if (typeof value !== "string" || !JOB_ID_PATTERN.test(value)) {
    throw badRequest(
      `the job id must be 32 lowercase hexadecimal characters, as returned by POST /v1/memories/compile, got ${preview(value)}`,
      "invalid_job_id",
      "job_id",
    );
  }
  return value;
}

export function newJobId(): string {
  return randomBytes(16).toString("hex");
}

/** Returns a chat completion id in OpenAI's form, "chatcmpl-" and 24 hexadecimal characters. */
export function newCompletionId(): string {
  return `chatcmpl-${randomBytes(12).toString("hex")}`;
}
