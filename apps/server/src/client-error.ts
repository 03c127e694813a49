/**
 * Responses to requests that Node's HTTP parser rejects before fastify routes them: a
 * URL and headers larger than Node's header limit (431), a request not received within
 * the request timeout (408), or bytes that are not HTTP (400). They get OpenAI's error
 * body like every other error, and the connection is closed.
 */

import http from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { ApiError } from "./api-error.js";

function clientErrorOf(error: NodeJS.ErrnoException, requestTimeoutMs: number): ApiError {
  if (error.code === "HPE_HEADER_OVERFLOW") {
    return new ApiError(
      `the request's URL and headers are larger than the server's limit of ${http.maxHeaderSize} bytes; shorten the URL or send fewer headers`,
      { status: 431, type: "invalid_request_error", code: "headers_too_large" },
    );
  }
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return new ApiError(
      `the server did not receive the whole request within its request timeout of ${requestTimeoutMs} ms; send the request faster or in smaller parts`,
      { status: 408, type: "invalid_request_error", code: "request_receive_timeout" },
    );
  }
  return new ApiError("the request is not valid HTTP/1.1; check the request line and the headers", {
    status: 400,
    type: "invalid_request_error",
    code: "invalid_http",
  });
}

/**
 * Writes the error response to a request that Node's parser rejected, then closes the
 * connection. Fastify calls it (its `clientErrorHandler` option) with the server as `this`.
 */
export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has no client left to receive a response.
  if (error.code === "ECONNRESET" || socket.destroyed) return;

  const apiError = clientErrorOf(error, this.server.requestTimeout);
  this.log.info({ status: apiError.status, code: apiError.code, parserError: error.code }, "request rejected before routing");
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(apiError.body());
  const response =
    `HTTP/1.1 ${apiError.status} ${http.STATUS_CODES[apiError.status]}\r\n` +
    "content-type: application/json; charset=utf-8\r\n" +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    "connection: close\r\n\r\n" +
    body;
  // Close once the response is written; the rest of the request is never read.
  socket.write(response, () => socket.destroy());
}
