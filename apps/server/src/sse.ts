/**
 * Server-sent events (the text/event-stream format of the WHATWG HTML standard, section
 * 9.2) written straight to the Node response. Writes wait for the socket to drain, so a
 * slow reader holds back the writer instead of growing a buffer.
 */

import { once } from "node:events";
import type { OutgoingHttpHeaders } from "node:http";
import type { FastifyReply } from "fastify";

export class EventStream {
  private constructor(private readonly reply: FastifyReply) {}

  /**
   * Takes the response over from fastify and sends the status line and headers. Headers
   * already set on `reply` (such as x-request-id) are kept.
   */
  static open(reply: FastifyReply): EventStream {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
    reply.hijack();
    reply.raw.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      // Tells nginx-style proxies not to buffer the stream.
      "x-accel-buffering": "no",
    });
    reply.raw.flushHeaders();
    return new EventStream(reply);
  }

  /** Whether the client went away or the stream was ended. */
  get closed(): boolean {
    const raw = this.reply.raw;
    return raw.destroyed || raw.writableEnded;
  }

  /** Sends one event whose data is `data` (one line of JSON or a marker such as [DONE]). */
  async send(data: string, event?: string): Promise<void> {
    const lines = event === undefined ? "" : `event: ${event}\n`;
    await this.write(`${lines}data: ${data}\n\n`);
  }

  /** Sends a comment line, which readers ignore; it keeps idle connections open. */
  async comment(text: string): Promise<void> {
    await this.write(`: ${text}\n\n`);
  }

  end(): void {
    if (!this.closed) this.reply.raw.end();
  }

  private async write(text: string): Promise<void> {
    if (this.closed) return;
    const raw = this.reply.raw;
    if (raw.write(text)) return;

    // Wait for drain or close, then remove the listener that did not fire.
    const cleanup = new AbortController();
    try {
      await Promise.race([once(raw, "drain", { signal: cleanup.signal }), once(raw, "close", { signal: cleanup.signal })]);
    } finally {
      cleanup.abort();
    }
  }
}
