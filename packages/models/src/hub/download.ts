/**
 * Downloads one file into place. Bytes go to `<file>.part`, which is renamed to `<file>`
 * only after its size and sha256 passed every check that is available. A broken
 * connection leaves the `.part` file behind, and the next attempt resumes from its end
 * with an HTTP Range request, or starts over when the server ignores ranges.
 *
 * No file grows past its expected size or the per-file limit (see size-limits.ts). A
 * response that announces another size is rejected before its body is read, and a body
 * that runs past the size is cut off. Both delete the `.part` file.
 */

import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import {
  ChecksumMismatchError,
  DownloadAbortedError,
  DownloadError,
  DownloadTimeoutError,
  FileTooLargeError,
  HubNotFoundError,
  SizeMismatchError,
} from "./errors.js";
import { type FetchFunction, type HubResponse, IdleTimeout, hubGet, isRetryableStatus, statusError } from "./http.js";
import { type ExpectedSize, checkAnnouncedSize, contentLengthOf, expectedSizeBeforeBody, overflowError } from "./size-limits.js";

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
  /** Largest size in bytes accepted for a file whose size is not pinned. */
  readonly maxFileBytes: number;
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
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptDownload(task, part, settings, optional);
    } catch (error) {
      if (!(error instanceof RetryableFailure)) throw error;
      // Delete a part that cannot be resumed now, so that the next pull does not try it again.
      if (error.restart) await rm(part, { force: true });
      const resumeFrom = (await fileSize(part)) ?? 0;
      if (attempt >= maxAttempts) {
        const keptNote = resumeFrom > 0 ? `; ${resumeFrom} bytes are kept in ${part}, and the next pull resumes from there` : "";
        const ErrorClass = error.failure instanceof DownloadTimeoutError ? DownloadTimeoutError : DownloadError;
        throw new ErrorClass(`${error.failure.message} (attempt ${attempt} of ${maxAttempts})${keptNote}`, {
          cause: error.failure,
          details: { ...error.failure.details, attempts: attempt },
        });
      }
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

/** Result of a request whose response cannot extend the part file, which is then deleted and the file requested from byte 0. */
const RESTART = Symbol("restart");

/**
 * Runs one attempt: one request, resuming from the `.part` file when possible, then
 * verifies the file and renames it into place. A part file longer than the file's
 * expected size is no prefix of it, so it is deleted and the request sent again from
 * byte 0 within the same attempt. That second request cannot restart again, because an
 * empty part is never too long.
 */
async function attemptDownload(
  task: DownloadTask,
  part: string,
  settings: DownloadSettings,
  optional: boolean,
): Promise<DownloadedFile | null> {
  for (;;) {
    const outcome = await requestFile(task, part, settings, optional);
    if (outcome !== RESTART) return outcome;
    await rm(part, { force: true });
  }
}

async function requestFile(
  task: DownloadTask,
  part: string,
  settings: DownloadSettings,
  optional: boolean,
): Promise<DownloadedFile | null | typeof RESTART> {
  // A part longer than the pinned size, or than the per-file limit, is discarded before the request.
  let offset = (await fileSize(part)) ?? 0;
  if (offset > (task.expectedSize ?? settings.maxFileBytes)) {
    await rm(part, { force: true });
    offset = 0;
  }

  // Hash the bytes already downloaded before the request, so that the server never waits on it.
  let hash = createHash("sha256");
  await hashPrefix(hash, part, offset);

  const sizedFile = { label: task.label, url: task.url };
  const timeout = new IdleTimeout(settings.signal, settings.timeoutMs);
  let response: Response | undefined;
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
    response = hub.response;
    if (response.status !== 200 && response.status !== 206 && response.status !== 416) {
      const failure = await statusError(hub, `${task.label} (${task.url})`);
      if (optional && failure instanceof HubNotFoundError) return null;
      if (isRetryableStatus(response.status)) throw new RetryableFailure(failure, false);
      throw failure;
    }

    // Step 2: the size known before the body (pinned, or the hub's X-Linked-Size). A part
    // longer than that size is never resumed.
    let expected: ExpectedSize | null = expectedSizeBeforeBody(sizedFile, task.expectedSize, hub.announcedSize, settings.maxFileBytes);
    if (offset > 0 && expected !== null && offset > expected.bytes) {
      await response.body?.cancel();
      return RESTART;
    }
    if (response.status === 416) {
      // The part is no prefix the server can extend (for example, the file shrank upstream).
      await response.body?.cancel();
      throw new RetryableFailure(new DownloadError(`the server rejected resuming ${task.label} at byte ${offset} (HTTP 416)`), true);
    }

    // Step 3: decide where the body starts, and check the sizes that the headers imply.
    // A 200 response to a range request means the server ignores ranges, so the part is
    // discarded and the file starts over.
    if (response.status === 206) {
      const contentRange = response.headers.get("content-range");
      const range = parseContentRange(contentRange);
      if (range === null || range.start !== offset) {
        await response.body?.cancel();
        throw new RetryableFailure(
          new DownloadError(
            `the server responded to the range request for ${task.label} with Content-Range ${contentRange}, not bytes ${offset}-`,
          ),
          true,
        );
      }
      if (range.total !== null) {
        const header = `Content-Range ${contentRange}`;
        expected = checkAnnouncedSize(sizedFile, expected, range.total, "content-range", header, settings.maxFileBytes);
      }
    } else {
      offset = 0;
      hash = createHash("sha256");
    }
    const bodyLength = contentLengthOf(response);
    if (bodyLength !== null) {
      const header = offset > 0 ? `Content-Length ${bodyLength} after byte ${offset}` : `Content-Length ${bodyLength}`;
      expected = checkAnnouncedSize(sizedFile, expected, offset + bodyLength, "content-length", header, settings.maxFileBytes);
    }
    const total = expected?.bytes ?? null;
    const limit = total ?? settings.maxFileBytes;

    // Step 4: a pinned hash that differs from the hub's announced one means the file changed upstream.
    const expectedSha256 = task.expectedSha256 ?? hub.announcedSha256 ?? undefined;
    if (task.expectedSha256 !== undefined && hub.announcedSha256 !== null && hub.announcedSha256 !== task.expectedSha256) {
      await response.body?.cancel();
      await rm(part, { force: true });
      throw checksumError(task, `the hub announces sha256 ${hub.announcedSha256}, but lcc pins ${task.expectedSha256}`);
    }

    // Step 5: stream the body into the part file, hashing as it goes. A chunk that would
    // take the file past `limit` is not written, and the download stops.
    handle = await open(part, offset > 0 ? "a" : "w");
    let done = offset;
    settings.onProgress({ type: "bytes", file: task.label, bytesDone: done, totalBytes: total });
    try {
      if (response.body !== null) {
        for await (const chunk of response.body) {
          timeout.touch();
          if (done + chunk.byteLength > limit) throw overflowError(sizedFile, expected, done + chunk.byteLength, settings.maxFileBytes);
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
    // Only a resumed part that already exceeded a size announced in this response gets here.
    if (done > limit) throw overflowError(sizedFile, expected, done, settings.maxFileBytes);

    // Step 6: check the hash, then move the file into place.
    const sha256 = hash.digest("hex");
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
  } catch (error) {
    // A size error means the part is not (a prefix of) the expected file: stop reading and delete it.
    if (error instanceof SizeMismatchError || error instanceof FileTooLargeError) {
      await response?.body?.cancel().catch(() => undefined);
      await handle?.close().catch(() => undefined);
      handle = undefined;
      await rm(part, { force: true });
    }
    throw error;
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
