/**
 * Errors raised by the serving engine. A memory compiled for another model is rejected
 * with `MemoryModelMismatchError` from @lcc/artifact, and a prompt that does not fit the
 * context window with `ContextLengthError` from @lcc/models.
 */

import { LccError } from "@lcc/tensor";

/** The request queue is full: `maxConcurrent` requests run and `maxQueued` more wait. */
export class QueueFullError extends LccError {}

/** No memory with this id was added to the engine, or it was removed. */
export class MemoryNotFoundError extends LccError {}

/**
 * The memory was evicted from the memory cache and cannot be reloaded, because it was
 * added without a file path or its file now contains another memory.
 */
export class MemoryEvictedError extends MemoryNotFoundError {}

/** The memory alone needs more bytes than the whole memory cache may hold. */
export class MemoryTooLargeError extends LccError {}

/** The engine was closed; it accepts no more requests. */
export class EngineClosedError extends LccError {}
