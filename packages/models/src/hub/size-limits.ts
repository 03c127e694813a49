/**
 * Size checks for one download. A file's expected size is pinned by lcc (known models)
 * or announced by the hub in `X-Linked-Size` (LFS files). When neither exists, the
 * server's own Content-Range total or Content-Length is taken, and no file whose size
 * lcc does not pin may exceed the per-file limit `maxFileBytes`, so that no server can
 * make a download grow without end.
 */

import { FileTooLargeError, SizeMismatchError } from "./errors.js";

/** Default per-file limit: 16 GiB, enough for unsharded bfloat16 weights (2 bytes each) of about 8B parameters. */
export const DEFAULT_MAX_FILE_BYTES = 16 * 2 ** 30;

/** Where an expected size came from. */
export type SizeSource = "pinned" | "x-linked-size" | "content-range" | "content-length";

export interface ExpectedSize {
  readonly bytes: number;
  readonly source: SizeSource;
}

/** The file being checked, for messages. */
export interface SizedFile {
  readonly label: string;
  readonly url: string;
}

const SOURCE_WORDS: Record<SizeSource, string> = {
  pinned: "pinned by lcc",
  "x-linked-size": "announced by the hub in X-Linked-Size",
  "content-range": "announced by the server in Content-Range",
  "content-length": "announced by the server in Content-Length",
};

const MISMATCH_HINT =
  "hint: the server does not serve the file that lcc expects; check LCC_HUB_URL and any proxy in between, then run the pull again";
const LIMIT_HINT =
  "hint: if the file really is this large, raise the limit with the maxFileBytes option (lcc models pull --max-file-bytes)";

function describe(expected: ExpectedSize): string {
  return `${expected.bytes} bytes (${SOURCE_WORDS[expected.source]})`;
}

/**
 * Returns the file's expected size before any body byte is read: the pinned size, else
 * the hub's X-Linked-Size, else null. Throws SizeMismatchError when the hub contradicts
 * the pinned size, and FileTooLargeError when the hub announces more than `maxFileBytes`
 * for a file whose size is not pinned.
 */
export function expectedSizeBeforeBody(
  file: SizedFile,
  pinnedSize: number | undefined,
  hubSize: number | null,
  maxFileBytes: number,
): ExpectedSize | null {
  if (pinnedSize !== undefined) {
    const pinned: ExpectedSize = { bytes: pinnedSize, source: "pinned" };
    if (hubSize !== null && hubSize !== pinnedSize) throw announcedMismatch(file, pinned, hubSize, `X-Linked-Size ${hubSize}`);
    return pinned;
  }
  if (hubSize === null) return null;
  if (hubSize > maxFileBytes) throw announcedTooLarge(file, hubSize, `X-Linked-Size ${hubSize}`, maxFileBytes);
  return { bytes: hubSize, source: "x-linked-size" };
}

/**
 * Checks a file size that a response header implies (`header` names it, e.g.
 * "Content-Length 1000 after byte 500"). Returns the expected size, which is the
 * announced one when nothing was known before. Throws SizeMismatchError when the
 * announced size differs from a known one, and FileTooLargeError when an announced size
 * that nothing confirms exceeds `maxFileBytes`.
 */
export function checkAnnouncedSize(
  file: SizedFile,
  expected: ExpectedSize | null,
  announcedBytes: number,
  source: Exclude<SizeSource, "pinned" | "x-linked-size">,
  header: string,
  maxFileBytes: number,
): ExpectedSize {
  if (expected !== null) {
    if (announcedBytes !== expected.bytes) throw announcedMismatch(file, expected, announcedBytes, header);
    return expected;
  }
  if (announcedBytes > maxFileBytes) throw announcedTooLarge(file, announcedBytes, header, maxFileBytes);
  return { bytes: announcedBytes, source };
}

/**
 * Returns the body length in Content-Length, or null when the header is absent or
 * invalid, or when the body is content-encoded (the header then counts encoded bytes,
 * while fetch yields decoded ones).
 */
export function contentLengthOf(response: Response): number | null {
  const encoding = response.headers.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") return null;
  const length = response.headers.get("content-length");
  return length !== null && /^\d+$/.test(length.trim()) ? Number(length) : null;
}

/** The error for a body that grew past its expected size, or past `maxFileBytes` when no size is known. */
export function overflowError(
  file: SizedFile,
  expected: ExpectedSize | null,
  receivedBytes: number,
  maxFileBytes: number,
): SizeMismatchError | FileTooLargeError {
  const details = { file: file.label, url: file.url, receivedBytes, maxFileBytes };
  if (expected !== null) {
    return new SizeMismatchError(
      `the download of ${file.label} was stopped: the server sent at least ${receivedBytes} bytes, but the file has ${describe(expected)}; ` +
        `the partial file was deleted\n${MISMATCH_HINT}`,
      { details: { ...details, expectedBytes: expected.bytes, expectedFrom: expected.source } },
    );
  }
  return new FileTooLargeError(
    `the download of ${file.label} was stopped: the server announced no size and sent at least ${receivedBytes} bytes, ` +
      `above the per-file limit of ${maxFileBytes} bytes; the partial file was deleted\n${LIMIT_HINT}`,
    { details },
  );
}

function announcedMismatch(file: SizedFile, expected: ExpectedSize, announcedBytes: number, header: string): SizeMismatchError {
  return new SizeMismatchError(
    `the download of ${file.label} was rejected: the response's ${header} gives a file of ${announcedBytes} bytes, ` +
      `but the file has ${describe(expected)}; the partial file was deleted\n${MISMATCH_HINT}`,
    {
      details: { file: file.label, url: file.url, expectedBytes: expected.bytes, expectedFrom: expected.source, announcedBytes },
    },
  );
}

function announcedTooLarge(file: SizedFile, announcedBytes: number, header: string, maxFileBytes: number): FileTooLargeError {
  return new FileTooLargeError(
    `the download of ${file.label} was rejected: the response's ${header} gives a file of ${announcedBytes} bytes, ` +
      `above the per-file limit of ${maxFileBytes} bytes; the partial file was deleted\n${LIMIT_HINT}`,
    { details: { file: file.label, url: file.url, announcedBytes, maxFileBytes } },
  );
}
