/**
 * One HTTP GET against a model hub, with redirects followed by hand so that the hub's
 * own headers stay visible. The Hugging Face hub responds to a request for a large (LFS)
 * file with a redirect to a storage host, and only the redirect carries the file's
 * sha256 (`X-Linked-Etag`) and size (`X-Linked-Size`).
 */

import { DownloadError, DownloadTimeoutError, HubAuthError, HubNotFoundError } from "./errors.js";

export type FetchFunction = typeof globalThis.fetch;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface HubRequest {
  readonly url: string;
  /** Origin that receives the bearer token; redirects to other origins go without it. */
  readonly hubOrigin: string;
  readonly token: string | null;
  /** First byte wanted; 0 requests the whole file. */
  readonly rangeStart: number;
  readonly signal: AbortSignal;
  readonly fetch: FetchFunction;
}

export interface HubResponse {
  readonly response: Response;
  /** URL of the last request, after redirects. */
  readonly url: string;
  /** sha256 announced by the hub (`X-Linked-Etag`, or an `ETag` of 64 hex digits), or null. */
  readonly announcedSha256: string | null;
  /** Size announced by the hub's `X-Linked-Size`, or null. */
  readonly announcedSize: number | null;
  /** Commit the hub resolved the revision to (`X-Repo-Commit`), or null. */
  readonly commit: string | null;
}

/** Strips the quotes and weak marker of an entity tag: `W/"abc"` becomes `abc`. */
function bareEntityTag(value: string | null): string | null {
  if (value === null) return null;
  return value
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1")
    .toLowerCase();
}

/** Sends the GET, following up to five redirects. Returns the first response that is not a redirect. */
export async function hubGet(request: HubRequest): Promise<HubResponse> {
  let url = request.url;
  let announcedSha256: string | null = null;
  let announcedSize: number | null = null;
  let commit: string | null = null;

  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // Step 1: send the request, with the token only to the hub itself.
    // Identity encoding keeps Content-Length equal to the file bytes that fetch yields.
    const headers: Record<string, string> = { "user-agent": "lcc", "accept-encoding": "identity" };
    if (request.token !== null && new URL(url).origin === request.hubOrigin) headers.authorization = `Bearer ${request.token}`;
    if (request.rangeStart > 0) headers.range = `bytes=${request.rangeStart}-`;
    const response = await request.fetch(url, { headers, redirect: "manual", signal: request.signal });

    // Step 2: keep what the hub announces about the file, from the first hop that sends it.
    const linked = bareEntityTag(response.headers.get("x-linked-etag"));
    const plain = hop === 0 ? bareEntityTag(response.headers.get("etag")) : null;
    announcedSha256 ??= [linked, plain].find((tag) => tag !== null && SHA256_HEX.test(tag)) ?? null;
    const linkedSize = response.headers.get("x-linked-size");
    if (announcedSize === null && linkedSize !== null && /^\d+$/.test(linkedSize)) announcedSize = Number(linkedSize);
    commit ??= response.headers.get("x-repo-commit");

    // Step 3: follow a redirect, or return.
    const location = response.headers.get("location");
    if (REDIRECT_STATUSES.has(response.status) && location !== null) {
      await response.body?.cancel();
      url = new URL(location, url).href;
      continue;
    }
    return { response, url, announcedSha256, announcedSize, commit };
  }
  throw new DownloadError(`${request.url} redirected more than ${MAX_REDIRECTS} times; check the hub URL (LCC_HUB_URL)`, {
    details: { url: request.url },
  });
}

/** Returns whether a failed request is worth retrying: server errors and rate limits are, other client errors are not. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Turns an unsuccessful response into a typed error naming the file, the status and a fix. */
export async function statusError(hub: HubResponse, fileDescription: string): Promise<DownloadError> {
  const { response } = hub;
  await response.body?.cancel();
  const code = response.headers.get("x-error-code");
  const serverMessage = response.headers.get("x-error-message");
  const reason = `HTTP ${response.status}${code === null ? "" : ` ${code}`}${serverMessage === null ? "" : `: ${serverMessage}`}`;
  const details = { url: hub.url, status: response.status, errorCode: code };

  if (response.status === 404) {
    return new HubNotFoundError(
      `${fileDescription} was not found (${reason} from ${hub.url})\nhint: check the model name, the revision and the hub URL (LCC_HUB_URL)`,
      { details },
    );
  }
  if (response.status === 401 || response.status === 403) {
    return new HubAuthError(
      `${fileDescription} could not be downloaded (${reason} from ${hub.url})\nhint: the repository may not exist, or it is private or gated; check the name, and set HF_TOKEN to a token with access`,
      { details },
    );
  }
  const hint = isRetryableStatus(response.status)
    ? "the server failed; try again later"
    : "check the hub URL (LCC_HUB_URL) and the model name";
  return new DownloadError(`${fileDescription} could not be downloaded (${reason} from ${hub.url})\nhint: ${hint}`, { details });
}

/**
 * An AbortSignal for one request that fires when the caller's signal fires or when
 * `touch` was not called for `timeoutMs`. Call `dispose` when the request is over.
 */
export class IdleTimeout {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onOuterAbort: () => void;
  timedOut = false;

  constructor(
    private readonly outer: AbortSignal | undefined,
    private readonly timeoutMs: number,
  ) {
    this.signal = this.controller.signal;
    this.onOuterAbort = () => this.controller.abort(outer?.reason);
    if (outer?.aborted === true) this.controller.abort(outer.reason);
    outer?.addEventListener("abort", this.onOuterAbort, { once: true });
    this.touch();
  }

  /** Restarts the countdown; called whenever the server sends something. */
  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(
        new DownloadTimeoutError(`no data arrived for ${this.timeoutMs} ms`, { details: { timeoutMs: this.timeoutMs } }),
      );
    }, this.timeoutMs);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener("abort", this.onOuterAbort);
  }
}
