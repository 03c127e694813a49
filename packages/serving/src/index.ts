/**
 * @lcc/serving: the engine that serves one frozen base model with many compiled
 * memories: composition, prefill and decode, sampling, stop rules, streaming,
 * a memory cache bounded by bytes, a bounded request queue and cancellation.
 */

export * from "./errors.js";
export * from "./request.js";
export * from "./generation.js";
export * from "./engine.js";
export * from "./compose.js";
export * from "./stop.js";
export { LruByteCache, type CacheStats } from "./memory-cache.js";
export { memoryId, memoryByteSize } from "./memory-id.js";
export type { MemoryInfo, MemorySource } from "./memory-store.js";
export type { QueueLimits, QueueStats } from "./request-queue.js";
