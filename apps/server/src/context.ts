/**
 * The state the route handlers share: the engine, the memories, the compile jobs,
 * metrics, limits and the logger.
 */

import type { Engine } from "@lcc/serving";
import type { FastifyBaseLogger } from "fastify";
import type { CompileJobs } from "./compile/jobs.js";
import type { MemoryRegistry } from "./memories/registry.js";
import type { UploadSlots } from "./memories/upload-slots.js";
import type { ServerMetrics } from "./metrics.js";
import type { ServerLimits } from "./options.js";

export interface ServerContext {
  readonly engine: Engine;
  /** The model's id in /v1/models and in requests, e.g. "stories260K". */
  readonly modelId: string;
  /** Unix time in seconds when the server started; the `created` field of /v1/models. */
  readonly startedAt: number;
  readonly limits: ServerLimits;
  readonly memories: MemoryRegistry;
  /** The bound on memory uploads in progress (limits.maxConcurrentUploads). */
  readonly uploads: UploadSlots;
  readonly jobs: CompileJobs;
  readonly metrics: ServerMetrics;
  readonly log: FastifyBaseLogger;
}
