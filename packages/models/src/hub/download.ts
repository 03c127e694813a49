/**
 * Downloads one file into place. Bytes go to `<file>.part`, which is renamed to `<file>`
 * only after its size and sha256 passed every check that is available. A broken
 * connection leaves the `.part` file behind, and the next attempt resumes from its end
 * with an HTTP Range request, or starts over when the server ignores ranges.
 */

import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { ChecksumMismatchError, DownloadAbortedError, DownloadError, DownloadTimeoutError, HubNotFoundError } from "./errors.js";
import { type FetchFunction, type HubResponse, IdleTimeout, hubGet, isRetryableStatus, statusError } from "./http.js";

export const PART_SUFFIX = ".part";

/** Progress of a pull, one file at a time. */
export type PullProgressEvent =
  | { readonly type: "file-start"; readonly file: string; readonly index: number; readonly count: number | null }
  | { readonly type: "bytes"; readonly file: string; readonly bytesDone: number; readonly totalBytes: number | null }
  | {
      readonly type: "retry";
      readonly file: string;
      readonly attempt: number;
      readonly maxAttempts: number;
      readonly reason: string;
      readonly resumeFrom: number;
    }
  | {
      readonly type: "file-done";
      readonly file: string;
      readonly bytes: number;
      readonly sha256: string;
      readonly alreadyPresent: boolean;
    };

/**
 * The check that a file's content passed before it was renamed into place:
 * "previous-pull" marks a file that an earlier, interrupted pull had already checked.
 */
export type Verification = "pinned-sha256" | "hub-sha256" | "size-only" | "previous-pull";

export interface DownloadedFile {
  readonly bytes: number;
  readonly sha256: string;
  readonly verifiedBy: Verification;
  readonly commit: string | null;
  readonly alreadyPresent: boolean;
}

export interface DownloadSettings {
  readonly hubOrigin: string;
  readonly token: string | null;
  readonly fetch: FetchFunction;
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly onProgress: (event: PullProgressEvent) => void;
}

export interface DownloadTask {
  readonly url: string;
  /** Final path of the file. */
  readonly destination: string;
  /** Name shown in progress events and errors, e.g. "stories260K.bin". */
  readonly label: string;
  /** Pinned values that override what the server announces. */
  readonly expectedSha256?: string;
  readonly expectedSize?: number;
}

async function fileSize(file: string): Promise<number | null> {
  try {
    return (await stat(file)).size;
  } catch {
    return null;
  }
}

/** Feeds the first `bytes` bytes of `file` into `hash`. */
async function hashPrefix(hash: Hash, file: string, bytes: number): Promise<void> {
  if (bytes === 0) return;
  for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1 })) hash.update(chunk as Buffer);
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Start of the range in a `Content-Range: bytes start-end/total` header, and the total when known. */
function parseContentRange(value: string | null): { start: number; total: number | null } | null {
  const match = value === null ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value.trim());
  if (match === null) return null;
  return { start: Number(match[1]), total: match[2] === "*" ? null : Number(match[2]) };
}

/** A failure that a later attempt may not repeat: a broken connection, a timeout, a server error. */
class RetryableFailure extends Error {
  constructor(
    readonly failure: DownloadError,
    readonly restart: boolean,
  ) {
    super(failure.message);
  }
}

/**
 * Downloads `task` with up to `settings.retries` further attempts after a retryable
 * failure. Returns null, with nothing written, when the server has no such file and
 * `optional` is true. A file already at the destination is hashed and kept, because it
 * was only renamed there after passing its checks.
 */
export async function downloadFile(task: DownloadTask, settings: DownloadSettings, optional = false): Promise<DownloadedFile | null> {
  const present = await fileSize(task.destination);
  if (present !== null) {
    const sha256 = await sha256OfFile(task.destination);
    if (task.expectedSha256 === undefined || sha256 === task.expectedSha256) {
      settings.onProgress({ type: "file-done", file: task.label, bytes: present, sha256, alreadyPresent: true });
      return {
        bytes: present,
        sha256,
        verifiedBy: task.expectedSha256 === undefined ? "previous-pull" : "pinned-sha256",
        commit: null,
        alreadyPresent: true,
      };
    }
    await rm(task.destination, { force: true });
  }

  const part = task.destination + PART_SUFFIX;
  const maxAttempts = settings.retries + 1;
  let restart = false;
  for (let attempt = 1; ; attempt++) {
    if (restart) await rm(part, { force: true });
    try {
      return await attemptDownload(task, part, settings, optional);
    } catch (error) {
      if (!(error instanceof RetryableFailure)) throw error;
      const resumeFrom = error.restart ? 0 : ((await fileSize(part)) ?? 0);
      if (attempt >= maxAttempts) {
        const keptNote = resumeFrom > 0 ? `; ${resumeFrom} bytes are kept in ${part}, and the next pull resumes from there` : "";
        const ErrorClass = error.failure instanceof DownloadTimeoutError ? DownloadTimeoutError : DownloadError;
        throw new ErrorClass(`${error.failure.message} (attempt ${attempt} of ${maxAttempts})${keptNote}`, {
          cause: error.failure,
          details: { ...error.failure.details, attempts: attempt },
        });
      }
      restart = error.restart;
      settings.onProgress({
        type: "retry",
        file: task.label,
        attempt: attempt + 1,
        maxAttempts,
        reason: error.failure.message,
        resumeFrom,
      });
      await delay(settings.retryDelayMs * 2 ** (attempt - 1), undefined, { signal: settings.signal }).catch(() => undefined);
      if (settings.signal?.aborted === true) throw aborted(task, part);
    }
  }
}

function aborted(task: DownloadTask, part: string): DownloadAbortedError {
  return new DownloadAbortedError(
    `the download of ${task.label} was cancelled; the partial file ${part} is kept and the next pull resumes from it`,
    {
      details: { file: task.label },
    },
  );
}

/** Runs one request, resuming from the `.part` file when possible, then verifies the file and renames it into place. */
async function attemptDownload(
  task: DownloadTask,
  part: string,
  settings: DownloadSettings,
  optional: boolean,
): Promise<DownloadedFile | null> {
  let offset = (await fileSize(part)) ?? 0;
  if (task.expectedSize !== undefined && offset > task.expectedSize) {
    await rm(part, { force: true });
    offset = 0;
  }

  // Hash the bytes already downloaded before the request, so that the server never waits on it.
  let hash = createHash("sha256");
  await hashPrefix(hash, part, offset);

  const timeout = new IdleTimeout(settings.signal, settings.timeoutMs);
  let handle: FileHandle | undefined;
  try {
    // Step 1: request the file, or the rest of it.
    let hub: HubResponse;
    try {
      hub = await hubGet({
        url: task.url,
        hubOrigin: settings.hubOrigin,
        token: settings.token,
        rangeStart: offset,
        signal: timeout.signal,
        fetch: settings.fetch,
      });
    } catch (error) {
      throw classifyNetworkError(error, task, part, timeout, settings);
    }
    timeout.touch();
    const { response } = hub;
    if (response.status === 416) {
      // The part is no prefix the server can extend (for example, the file shrank upstream).
      await response.body?.cancel();
      throw new RetryableFailure(new DownloadError(`the server rejected resuming ${task.label} at byte ${offset} (HTTP 416)`), true);
    }
    if (response.status !== 200 && response.status !== 206) {
      const failure = await statusError(hub, `${task.label} (${task.url})`);
      if (optional && failure instanceof HubNotFoundError) return null;
      if (isRetryableStatus(response.status)) throw new RetryableFailure(failure, false);
      throw failure;
    }

    // Step 2: decide where the body starts. A 200 response to a range request means the
    // server ignores ranges, so the part is discarded and the file starts over.
    let total: number | null = task.expectedSize ?? hub.announcedSize;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get("content-range"));
      if (range === null || range.start !== offset) {
        await response.body?.cancel();
        throw new RetryableFailure(
          new DownloadError(
            `the server responded to the range request for ${task.label} with Content-Range ${response.headers.get("content-range")}, not bytes ${offset}-`,
          ),
          true,
        );
      }
      total ??= range.total;
    } else {
      offset = 0;
      hash = createHash("sha256");
      const length = response.headers.get("content-length");
      if (total === null && length !== null && /^\d+$/.test(length)) total = Number(length);
    }

    // Step 3: a pinned hash that differs from the hub's announced one means the file changed upstream.
    const expectedSha256 = task.expectedSha256 ?? hub.announcedSha256 ?? undefined;
    if (task.expectedSha256 !== undefined && hub.announcedSha256 !== null && hub.announcedSha256 !== task.expectedSha256) {
      await response.body?.cancel();
      await rm(part, { force: true });
      throw checksumError(task, `the hub announces sha256 ${hub.announcedSha256}, but lcc pins ${task.expectedSha256}`);
    }

    // Step 4: stream the body into the part file, hashing as it goes.
    handle = await open(part, offset > 0 ? "a" : "w");
    let done = offset;
    settings.onProgress({ type: "bytes", file: task.label, bytesDone: done, totalBytes: total });
    try {
      if (response.body !== null) {
        for await (const chunk of response.body) {
          timeout.touch();
          await handle.write(chunk);
          hash.update(chunk);
          done += chunk.byteLength;
          settings.onProgress({ type: "bytes", file: task.label, bytesDone: done, totalBytes: total });
        }
      }
    } catch (error) {
      throw classifyNetworkError(error, task, part, timeout, settings);
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (total !== null && done < total) {
      throw new RetryableFailure(
        new DownloadError(`the connection closed after ${done} of ${total} bytes of ${task.label}`, {
          details: { file: task.label, bytesDone: done, totalBytes: total },
        }),
        false,
      );
    }

    // Step 5: check size and hash, then move the file into place.
    const sha256 = hash.digest("hex");
    if (total !== null && done !== total) {
      await rm(part, { force: true });
      throw checksumError(task, `it has ${done} bytes but ${total} were expected`);
    }
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      await rm(part, { force: true });
      throw checksumError(task, `its sha256 is ${sha256} but ${expectedSha256} was expected`);
    }
    await rename(part, task.destination);
    let verifiedBy: Verification = "size-only";
    if (task.expectedSha256 !== undefined) verifiedBy = "pinned-sha256";
    else if (expectedSha256 !== undefined) verifiedBy = "hub-sha256";
    settings.onProgress({ type: "file-done", file: task.label, bytes: done, sha256, alreadyPresent: false });
    return { bytes: done, sha256, verifiedBy, commit: hub.commit, alreadyPresent: false };
  } finally {
    timeout.dispose();
    await handle?.close().catch(() => undefined);
  }
}

function checksumError(task: DownloadTask, problem: string): ChecksumMismatchError {
  return new ChecksumMismatchError(
    `the download of ${task.label} is corrupted: ${problem}; the file was deleted\n` +
      "hint: run the pull again; if the mismatch repeats, the server or a proxy alters the file, so check LCC_HUB_URL",
    { details: { file: task.label, url: task.url } },
  );
}

/** Maps an exception from fetch or the body stream onto a typed failure. */
function classifyNetworkError(error: unknown, task: DownloadTask, part: string, timeout: IdleTimeout, settings: DownloadSettings): Error {
  if (timeout.timedOut) {
    return new RetryableFailure(
      new DownloadTimeoutError(`the download of ${task.label} timed out: no data arrived for ${settings.timeoutMs} ms from ${task.url}`, {
        details: { file: task.label, timeoutMs: settings.timeoutMs },
      }),
      false,
    );
  }
  if (settings.signal?.aborted === true) return aborted(task, part);
  if (error instanceof RetryableFailure || error instanceof DownloadError) return error;
  const cause =
    error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
  return new RetryableFailure(
    new DownloadError(`the download of ${task.label} from ${task.url} failed (${cause})`, { cause: error, details: { file: task.label } }),
    false,
  );
}
