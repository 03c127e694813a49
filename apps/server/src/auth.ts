/**
 * Optional bearer-token authentication. The key is compared through sha256 digests of
 * equal length with a constant-time comparison, so the time taken reveals neither the
 * key's length nor how many leading characters matched.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { ApiError } from "./api-error.js";

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

export class BearerAuth {
  private readonly expected: Buffer;

  constructor(apiKey: string) {
    this.expected = digest(apiKey);
  }

  /** Throws a 401 ApiError unless `header` is "Bearer <key>" with the configured key. */
  check(header: string | undefined): void {
    if (header === undefined || header === "") {
      throw unauthorized("missing API key; send the header 'Authorization: Bearer <key>'", "missing_api_key");
    }
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw unauthorized("invalid Authorization header; send 'Authorization: Bearer <key>'", "invalid_api_key");
    }
    if (!timingSafeEqual(digest(match[1] as string), this.expected)) {
      throw unauthorized("invalid API key; check the key the server was started with", "invalid_api_key");
    }
  }
}

function unauthorized(message: string, code: string): ApiError {
  return new ApiError(message, { status: 401, type: "authentication_error", code, headers: { "www-authenticate": "Bearer" } });
}
