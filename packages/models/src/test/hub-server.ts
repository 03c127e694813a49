/**
 * A model hub on loopback for download tests. The hub server responds to
 * `/<owner>/<name>/resolve/<revision>/<path>` like the Hugging Face hub: small files
 * directly with a git-style ETag, large ("LFS") files with a redirect to a second
 * server (another origin, like the hub's storage host) that carries `X-Linked-Etag`
 * (the sha256) and `X-Linked-Size`. The storage server honours Range requests.
 *
 * Each file can be told to misbehave: close the connection midway, send altered bytes,
 * ignore ranges, stall, or announce and send other sizes than its own.
 */

import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ServedFile {
  readonly bytes: Buffer;
  /** Served through a redirect to the storage server, with the sha256 announced. */
  readonly lfs: boolean;
}

/** Sizes that the hub announces, or bytes it sends, in place of a file's own. */
export interface SizeFault {
  /** Content-Length sent in place of the body's length; null sends none, so the body is chunked. */
  readonly contentLength?: number | null;
  /** Total sent in Content-Range in place of the file's size. */
  readonly rangeTotal?: number;
  /** X-Linked-Size sent by the hub for an LFS file in place of the file's size. */
  readonly linkedSize?: number;
  /** Filler bytes sent after the file's bytes; Infinity keeps sending until the client disconnects. */
  readonly extraBytes?: number;
}

export interface LoggedRequest {
  readonly server: "hub" | "storage";
  readonly path: string;
  readonly range: string | null;
  readonly authorization: string | null;
}

export class TestHub {
  /** `<owner>/<name>/<revision>/<path>` → file. */
  readonly files = new Map<string, ServedFile>();
  readonly requests: LoggedRequest[] = [];
  /** Per file key: body bytes after which the next responses close the connection, one entry per response. */
  readonly cutAfter = new Map<string, number[]>();
  /** Files whose bytes are altered (one byte flipped) in every response. */
  readonly corrupted = new Set<string>();
  /** Files whose announced sha256 is wrong (the bytes themselves are intact). */
  readonly wrongAnnouncedSha = new Set<string>();
  /** Files whose responses send headers and then nothing. */
  readonly stalled = new Set<string>();
  /** Whether the storage server honours Range requests. */
  rangeSupport = true;
  /** Status sent for every hub request when set (e.g. 401), in place of the file. */
  forcedStatus: number | null = null;
  /** Per file key: sizes announced or sent in place of the file's own. */
  readonly sizeFaults = new Map<string, SizeFault>();
  /** Per file key: body bytes handed to the socket, over all responses. */
  readonly bytesSent = new Map<string, number>();

  private readonly hub = http.createServer((request, response) => this.serveHub(request, response));
  private readonly storage = http.createServer((request, response) => this.serveStorage(request, response));
  private readonly sockets = new Set<import("node:net").Socket>();

  get url(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
  }

  private get storageUrl(): string {
    return `http://127.0.0.1:${(this.storage.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    for (const server of [this.hub, this.storage]) {
      server.on("connection", (socket) => {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    }
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([this.hub, this.storage].map((server) => new Promise((resolve) => server.close(resolve))));
  }

  /** Serves `bytes` as `<repo>/resolve/<revision>/<path>`. */
  addFile(repo: string, revision: string, filePath: string, bytes: Buffer, lfs: boolean): string {
    const key = `${repo}/${revision}/${filePath}`;
    this.files.set(key, { bytes, lfs });
    return key;
  }

  requestsFor(fragment: string): LoggedRequest[] {
    return this.requests.filter((request) => request.path.includes(fragment));
  }

  private log(server: LoggedRequest["server"], request: http.IncomingMessage): void {
    this.requests.push({
      server,
      path: decodeURIComponent(request.url ?? ""),
      range: request.headers.range ?? null,
      authorization: request.headers.authorization ?? null,
    });
  }

  private serveHub(request: http.IncomingMessage, response: http.ServerResponse): void {
    this.log("hub", request);
    if (this.forcedStatus !== null) {
      response.writeHead(this.forcedStatus, { "x-error-code": "RepoNotFound", "x-error-message": "Repository not found" }).end();
      return;
    }
    const match = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURIComponent(request.url ?? ""));
    const key = match === null ? null : `${match[1]}/${match[2]}/${match[3]}`;
    const file = key === null ? undefined : this.files.get(key);
    if (key === null || file === undefined) {
      response.writeHead(404, { "x-error-code": "EntryNotFound", "x-error-message": "Entry not found" }).end();
      return;
    }
    const sha256 = createHash("sha256").update(file.bytes).digest("hex");
    if (file.lfs) {
      const announced = this.wrongAnnouncedSha.has(key) ? "0".repeat(64) : sha256;
      response
        .writeHead(302, {
          location: `${this.storageUrl}/blobs/${encodeURIComponent(key)}`,
          "x-linked-etag": `"${announced}"`,
          "x-linked-size": String(this.sizeFaults.get(key)?.linkedSize ?? file.bytes.length),
          "x-repo-commit": "c0ffee0000000000000000000000000000000000",
          etag: `"${announced}"`,
        })
        .end();
      return;
    }
    const gitSha1 = createHash("sha1").update(`blob ${file.bytes.length}\0`).update(file.bytes).digest("hex");
    this.sendBody(
      key,
      file,
      request,
      response,
      { etag: `"${gitSha1}"`, "x-repo-commit": "c0ffee0000000000000000000000000000000000" },
      false,
    );
  }

  private serveStorage(request: http.IncomingMessage, response: http.ServerResponse): void {
    this.log("storage", request);
    const key = decodeURIComponent((request.url ?? "").replace(/^\/blobs\//, ""));
    const file = this.files.get(key);
    if (file === undefined) {
      response.writeHead(404).end();
      return;
    }
    this.sendBody(key, file, request, response, {}, this.rangeSupport);
  }

  private sendBody(
    key: string,
    file: ServedFile,
    request: http.IncomingMessage,
    response: http.ServerResponse,
    headers: http.OutgoingHttpHeaders,
    ranges: boolean,
  ): void {
    // Step 1: the bytes, possibly altered.
    let bytes = file.bytes;
    if (this.corrupted.has(key)) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0xff;
    }

    // Step 2: the whole file or the requested range, with the sizes a fault announces.
    const fault = this.sizeFaults.get(key) ?? {};
    const range = ranges ? /^bytes=(\d+)-$/.exec(request.headers.range ?? "") : null;
    let status = 200;
    let start = 0;
    if (range !== null) {
      start = Number(range[1]);
      if (start >= bytes.length) {
        response.writeHead(416, { "content-range": `bytes */${bytes.length}` }).end();
        return;
      }
      status = 206;
      headers = { ...headers, "content-range": `bytes ${start}-${bytes.length - 1}/${fault.rangeTotal ?? bytes.length}` };
    }
    const body = bytes.subarray(start);
    const contentLength = fault.contentLength === undefined ? body.length : fault.contentLength;
    if (contentLength !== null) headers = { ...headers, "content-length": String(contentLength) };
    response.writeHead(status, { ...headers, "accept-ranges": ranges ? "bytes" : "none" });

    // Step 3: apply the configured failure, if any.
    if (this.stalled.has(key)) return;
    const cut = this.cutAfter.get(key)?.shift();
    if (cut !== undefined) {
      response.write(body.subarray(0, cut));
      // Give the client time to read the bytes before the connection breaks.
      setTimeout(() => response.socket?.destroy(), 50);
      return;
    }
    if (fault.extraBytes !== undefined) {
      void this.sendWithFiller(key, response, body, fault.extraBytes);
      return;
    }
    this.countSent(key, body.length);
    response.end(body);
  }

  private countSent(key: string, bytes: number): void {
    this.bytesSent.set(key, (this.bytesSent.get(key) ?? 0) + bytes);
  }

  /** Sends `body` and then `extraBytes` filler bytes, waiting for the socket to drain, until done or the client disconnects. */
  private async sendWithFiller(key: string, response: http.ServerResponse, body: Buffer, extraBytes: number): Promise<void> {
    let closed = false;
    response.on("close", () => {
      closed = true;
    });
    const write = async (chunk: Buffer): Promise<void> => {
      this.countSent(key, chunk.length);
      if (response.write(chunk)) return;
      await new Promise<void>((resolve) => {
        const settle = () => {
          response.off("drain", settle);
          response.off("close", settle);
          resolve();
        };
        response.on("drain", settle);
        response.on("close", settle);
      });
    };

    await write(body);
    const filler = Buffer.alloc(64 * 1024, 0x5a);
    let remaining = extraBytes;
    while (!closed && remaining > 0) {
      const chunk = remaining >= filler.length ? filler : filler.subarray(0, remaining);
      await write(chunk);
      remaining -= chunk.length;
    }
    if (!closed) response.end();
  }
}
