/**
 * A scripted OpenAI-compatible chat completions server on 127.0.0.1 (an ephemeral port),
 * for judge tests. Each request is recorded and answered by the next scripted reply.
 */

import { type IncomingHttpHeaders, type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A reply: status and raw body, or "hang" to never answer. */
export type ScriptedReply = { readonly status: number; readonly body: string } | "hang";

export interface MockChatServer {
  /** Base URL, e.g. http://127.0.0.1:40123/v1. */
  readonly baseUrl: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** A chat completion body whose first choice says `content`. */
export function completionBody(content: string): string {
  return JSON.stringify({
    id: "chatcmpl-test",
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  });
}

/** Starts a server that answers with `replies` in order, then with `fallback` (a CORRECT verdict by default). */
export async function startMockChatServer(
  replies: readonly ScriptedReply[],
  fallback: ScriptedReply = { status: 200, body: completionBody("CORRECT") },
): Promise<MockChatServer> {
  const requests: RecordedRequest[] = [];
  const pending = [...replies];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      requests.push({
        method: request.method ?? "",
        url: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const reply = pending.shift() ?? fallback;
      if (reply === "hang") return;
      response.writeHead(reply.status, { "content-type": "application/json" });
      response.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
