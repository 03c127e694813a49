/**
 * Errors raised while downloading models from a model hub.
 */

import { LccError } from "@lcc/tensor";

/** A download failed: the connection broke, or the server answered with an unexpected HTTP status. */
export class DownloadError extends LccError {}

/** The hub has no such repository, revision or file (HTTP 404). */
export class HubNotFoundError extends DownloadError {}

/** The hub rejected the request as unauthenticated or forbidden (HTTP 401 or 403). */
export class HubAuthError extends DownloadError {}

/** A downloaded file does not have the expected sha256 or size; the file was deleted. */
export class ChecksumMismatchError extends DownloadError {}

/** The server sent nothing for longer than the timeout. */
export class DownloadTimeoutError extends DownloadError {}

/**
 * The server announced or sent a size that disagrees with the file's expected size,
 * which lcc pins or the hub announces. The partial file was deleted.
 */
export class SizeMismatchError extends DownloadError {}

/** A file whose size lcc does not pin is larger than the per-file limit (`maxFileBytes`); the partial file was deleted. */
export class FileTooLargeError extends DownloadError {}

/** Offline mode (the `offline` option or LCC_OFFLINE=1) forbids the download that a pull needs. */
export class OfflineError extends DownloadError {}

/** The download was cancelled through its AbortSignal; the partial file is kept for a later resume. */
export class DownloadAbortedError extends DownloadError {}

/** A model name or hub id is invalid, or names no known model. */
export class ModelReferenceError extends LccError {}
