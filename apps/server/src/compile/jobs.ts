/**
 * Compile jobs: a bounded queue of compilations run one at a time in the server process.
 * A finished job stores its memory through the memory registry (so in the memory folder
 * when there is one) and keeps its result for polling until `keptCompileJobs` newer jobs
 * have finished.
 */

import { type ModelFingerprint, encodeMemory } from "@lcc/artifact";
import { CompileAbortedError, type CompileProgress, compileContext, toMemoryArtifact } from "@lcc/compiler";
import type { LoadedModel } from "@lcc/models";
import type { SessionOptions } from "@lcc/tensor";
import type { FastifyBaseLogger } from "fastify";
import { ApiError, type ApiErrorBody } from "../api-error.js";
import { newJobId } from "../ids.js";
import type { MemoryRegistry } from "../memories/registry.js";
import type { ServerLimits } from "../options.js";
import { jobErrorOf } from "./job-error.js";
import type { CompileSubmission } from "./request.js";

export const COMPILE_JOB_STATUSES = Object.freeze(["queued", "running", "succeeded", "failed", "cancelled"] as const);
export type CompileJobStatus = (typeof COMPILE_JOB_STATUSES)[number];

const FINISHED: ReadonlySet<CompileJobStatus> = new Set(["succeeded", "failed", "cancelled"]);

/** The latest progress event of a job, with snake_case fields. */
export type ProgressObject = Readonly<Record<string, unknown>> & { readonly phase: CompileProgress["type"] };

/** A compile job as the API returns it. */
export interface CompileJobObject {
  readonly id: string;
  readonly object: "memory.compile_job";
  readonly status: CompileJobStatus;
  /** Unix times in seconds. */
  readonly created_at: number;
  readonly started_at: number | null;
  readonly finished_at: number | null;
  readonly source_tokens: number;
  readonly options: Readonly<Record<string, unknown>>;
  readonly progress: ProgressObject | null;
  /** The id of the compiled memory once the job succeeded. */
  readonly memory_id: string | null;
  readonly error: ApiErrorBody["error"] | null;
}

export type CompileJobEvent =
  | { readonly type: "status"; readonly job: CompileJobObject }
  | { readonly type: "progress"; readonly progress: ProgressObject };

interface JobRecord {
  readonly id: string;
  readonly submission: CompileSubmission;
  readonly createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  status: CompileJobStatus;
  progress: ProgressObject | null;
  memoryId: string | null;
  error: ApiErrorBody["error"] | null;
  readonly controller: AbortController;
  readonly listeners: Set<(event: CompileJobEvent) => void>;
}

export interface CompileJobsOptions {
  readonly model: LoadedModel;
  readonly fingerprint: ModelFingerprint;
  readonly sessionOptions: SessionOptions;
  readonly memories: MemoryRegistry;
  readonly limits: ServerLimits;
  readonly log: FastifyBaseLogger;
  /** Producer version written into compiled memories. */
  readonly producerVersion: string;
}

function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function progressObject(event: CompileProgress): ProgressObject {
  if (event.type === "teacher")
    return { phase: "teacher", segment: event.segment, segments: event.segments, done: event.done, total: event.total };
  if (event.type === "stopped") return { phase: "stopped", segment: event.segment, reason: event.reason, step: event.step };
  return {
    phase: "step",
    segment: event.segment,
    segments: event.segments,
    step: event.step,
    steps: event.steps,
    loss: event.loss,
    losses: event.losses,
    gradient_norm: event.gradientNorm,
    learning_rate: event.learningRate,
    tokens_per_second: event.tokensPerSecond,
    eta_seconds: event.etaSeconds,
  };
}

export class CompileJobs {
  /** Every job known, oldest first. */
  private readonly jobs = new Map<string, JobRecord>();
  private readonly waiting: JobRecord[] = [];
  private running: JobRecord | null = null;
  private worker: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: CompileJobsOptions) {}

  /** Queues a compilation. Throws a 429 ApiError when limits.maxCompileJobs jobs are queued or running. */
  submit(submission: CompileSubmission): CompileJobObject {
    if (this.closed)
      throw new ApiError("the server is shutting down and accepts no compile jobs", {
        status: 503,
        type: "server_error",
        code: "server_shutting_down",
      });
    const active = this.waiting.length + (this.running === null ? 0 : 1);
    const { maxCompileJobs } = this.options.limits;
    if (active >= maxCompileJobs) {
      throw new ApiError(
        `the compile queue is full: ${active} jobs are queued or running (limit ${maxCompileJobs}); retry when one has finished`,
        {
          status: 429,
          type: "rate_limit_error",
          code: "compile_queue_full",
          headers: { "retry-after": "10" },
        },
      );
    }

    const job: JobRecord = {
      id: newJobId(),
      submission,
      createdAt: unixSeconds(),
      startedAt: null,
      finishedAt: null,
      status: "queued",
      progress: null,
      memoryId: null,
      error: null,
      controller: new AbortController(),
      listeners: new Set(),
    };
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.options.log.info(
      { jobId: job.id, sourceTokens: submission.contextIds.length, steps: submission.options.steps },
      "compile job queued",
    );
    this.pump();
    return this.view(job);
  }

  /** Returns every job still known (queued, running, or among the kept finished ones), newest first. */
  list(): CompileJobObject[] {
    return [...this.jobs.values()].reverse().map((job) => this.view(job));
  }

  get(id: string): CompileJobObject | undefined {
    const job = this.jobs.get(id);
    return job === undefined ? undefined : this.view(job);
  }

  /**
   * Calls `listener` with each status change and progress event of a job, until the
   * returned function is called. Returns undefined for an unknown job.
   */
  subscribe(id: string, listener: (event: CompileJobEvent) => void): (() => void) | undefined {
    const job = this.jobs.get(id);
    if (job === undefined) return undefined;
    job.listeners.add(listener);
    return () => job.listeners.delete(listener);
  }

  /** Cancels a queued or running job and returns it; a finished job is returned unchanged. */
  cancel(id: string): CompileJobObject | undefined {
    const job = this.jobs.get(id);
    if (job === undefined) return undefined;
    if (job.status === "queued") {
      this.waiting.splice(this.waiting.indexOf(job), 1);
      this.finish(job, "cancelled");
    } else if (job.status === "running") {
      // The compiler stops at its next step; the worker then marks the job cancelled.
      job.controller.abort();
    }
    return this.view(job);
  }

  /** Number of known jobs in each status. */
  counts(): Record<CompileJobStatus, number> {
    const counts = Object.fromEntries(COMPILE_JOB_STATUSES.map((status) => [status, 0])) as Record<CompileJobStatus, number>;
    for (const job of this.jobs.values()) counts[job.status]++;
    return counts;
  }

  /** Cancels every queued and running job and waits for the running one to stop. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.waiting]) this.cancel(job.id);
    this.running?.controller.abort();
    await this.worker;
  }

  // -------------------------------------------------------------------------
  // Running jobs
  // -------------------------------------------------------------------------

  private pump(): void {
    if (this.running !== null || this.closed) return;
    const job = this.waiting.shift();
    if (job === undefined) return;
    this.running = job;
    this.worker = this.run(job).finally(() => {
      this.running = null;
      this.worker = null;
      this.pump();
    });
  }

  private async run(job: JobRecord): Promise<void> {
    const { model, fingerprint, sessionOptions, memories, log, producerVersion } = this.options;
    const { submission } = job;
    job.startedAt = unixSeconds();
    this.setStatus(job, "running");
    log.info({ jobId: job.id }, "compile job started");

    try {
      // Compile, then encode the memory file and add it like an upload.
      const compiled = await compileContext({
        model,
        contextIds: submission.contextIds,
        queryPool: submission.queryPool,
        options: submission.options,
        sessionOptions,
        signal: job.controller.signal,
        onProgress: (event) => {
          job.progress = progressObject(event);
          this.emit(job, { type: "progress", progress: job.progress });
        },
      });
      job.controller.signal.throwIfAborted();
      const memory = toMemoryArtifact(compiled, {
        fingerprint,
        sourceText: submission.text,
        includeSourceText: submission.includeSource,
        producerVersion,
        extraOptions: { queryPool: submission.queryPoolName, storageDType: submission.dtype },
      });
      const bytes = encodeMemory(memory, { dtype: submission.dtype, includeSourceText: submission.includeSource });
      const { id } = await memories.addFile(bytes);
      job.memoryId = id;
      log.info(
        { jobId: job.id, memoryId: id, bufferTokens: compiled.bufferTokens, seconds: Number(compiled.wallSeconds.toFixed(2)) },
        "compile job succeeded",
      );
      this.finish(job, "succeeded");
    } catch (error) {
      if (job.controller.signal.aborted || error instanceof CompileAbortedError) {
        log.info({ jobId: job.id }, "compile job cancelled");
        this.finish(job, "cancelled");
        return;
      }
      const failure = jobErrorOf(error, job.id);
      job.error = failure.error;
      if (failure.unexpected) log.error({ jobId: job.id, err: error }, "compile job failed");
      else log.warn({ jobId: job.id, code: failure.error.code, message: failure.error.message }, "compile job failed");
      this.finish(job, "failed");
    }
  }

  private finish(job: JobRecord, status: CompileJobStatus): void {
    job.finishedAt = unixSeconds();
    this.setStatus(job, status);
    job.listeners.clear();
    this.forgetOldJobs();
  }

  private setStatus(job: JobRecord, status: CompileJobStatus): void {
    job.status = status;
    this.emit(job, { type: "status", job: this.view(job) });
  }

  private emit(job: JobRecord, event: CompileJobEvent): void {
    for (const listener of [...job.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.options.log.error({ jobId: job.id, err: error }, "a compile job listener failed");
      }
    }
  }

  /** Forgets the oldest finished jobs beyond limits.keptCompileJobs. */
  private forgetOldJobs(): void {
    let finished = [...this.jobs.values()].filter((job) => FINISHED.has(job.status)).length;
    for (const job of this.jobs.values()) {
      if (finished <= this.options.limits.keptCompileJobs) break;
      if (!FINISHED.has(job.status)) continue;
      this.jobs.delete(job.id);
      finished--;
    }
  }

  private view(job: JobRecord): CompileJobObject {
    const { options, queryPoolName, dtype, contextIds } = job.submission;
    return {
      id: job.id,
      object: "memory.compile_job",
      status: job.status,
      created_at: job.createdAt,
      started_at: job.startedAt,
      finished_at: job.finishedAt,
      source_tokens: contextIds.length,
      options: {
        ratio: options.ratio,
        steps: options.steps,
        queries: options.queries,
        seed: options.seed,
        max_seconds: options.maxSeconds,
        query_pool: queryPoolName,
        dtype,
      },
      progress: job.progress,
      memory_id: job.memoryId,
      error: job.error,
    };
  }
}
