/**
 * The serving engine: one frozen base model that reads many memories, with requests
 * admitted through a bounded queue and memories held in a cache bounded by bytes.
 *
 * Isolation: every request builds its own key/value cache (composeCache copies the
 * memories), and LanguageModel.forward never writes to the cache it is given, so
 * concurrent requests share only the onnxruntime sessions and the read-only memories.
 *
 * Concurrency of onnxruntime: in onnxruntime-node 1.31.1 `InferenceSession.run` calls the
 * native run synchronously on the JavaScript thread (from a setImmediate callback), so two
 * runs on one session never overlap and need no lock. Concurrent requests therefore
 * interleave step by step rather than run in parallel; each step uses the session's
 * intra-op threads.
 */

import type { Memory, ModelFingerprint } from "@lcc/artifact";
import { type KvCache, LanguageModel, type LlamaConfig, type LoadModelOptions, type LoadedModel, Sampler, type TextTokenizer, loadModel, modelHashes } from "@lcc/models";
import { InvalidArgumentError, type SessionOptions } from "@lcc/tensor";
import { EngineClosedError } from "./errors.js";
import { Generation } from "./generation.js";
import type { CacheStats } from "./memory-cache.js";
import { type MemoryInfo, type MemorySource, MemoryStore, checkMemoryIds } from "./memory-store.js";
import { type ReaderContext, runGeneration, runScore } from "./reader.js";
import {
  DEFAULT_MAX_TOKENS,
  type GenerateRequest,
  type PromptInput,
  type ScoreRequest,
  type ScoreResult,
  validateGenerateRequest,
  validateScoreRequest,
} from "./request.js";
import { type QueueStats, type QueueTicket, RequestQueue } from "./request-queue.js";

export interface EngineOptions {
  /** onnxruntime options of the model's sessions (threads, execution providers, graph cache). */
  readonly sessionOptions?: SessionOptions;
  /** Budget of the memory cache in bytes (see memoryByteSize). Default 1 GiB. */
  readonly maxMemoryBytes?: number;
  /** Requests that run at once. Default 4. */
  readonly maxConcurrent?: number;
  /** Requests that may wait for a slot; more are rejected with QueueFullError. Default 32. */
  readonly maxQueued?: number;
}

export interface LoadEngineOptions extends EngineOptions, LoadModelOptions {}

/** A model and its tokenizer, as loadModel returns them. */
export interface EngineModel {
  readonly model: LoadedModel;
  readonly tokenizer: TextTokenizer;
}

export const DEFAULT_ENGINE_OPTIONS = Object.freeze({ maxMemoryBytes: 1 << 30, maxConcurrent: 4, maxQueued: 32 });

export class Engine {
  /** Identity of the base model; memories must carry the same. */
  readonly fingerprint: ModelFingerprint;
  readonly tokenizer: TextTokenizer;

  private readonly store: MemoryStore;
  private readonly queue: RequestQueue;
  private readonly reader: ReaderContext;
  /** Controllers of the requests queued or running, to cancel them on close. */
  private readonly active = new Set<AbortController>();
  private readonly tasks = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly languageModel: LanguageModel,
    tokenizer: TextTokenizer,
    sink: KvCache,
    options: Required<Omit<EngineOptions, "sessionOptions">>,
  ) {
    this.tokenizer = tokenizer;
    this.fingerprint = Object.freeze({ ...modelHashes(languageModel.model, tokenizer) });
    this.store = new MemoryStore(this.fingerprint, options.maxMemoryBytes);
    this.queue = new RequestQueue({ maxConcurrent: options.maxConcurrent, maxQueued: options.maxQueued });
    this.reader = { languageModel, tokenizer, sink, loadMemory: (id) => this.store.get(id) };
  }

  /** Loads a model from a path or a name in a models folder (see loadModel) and starts an engine on it. */
  static async load(source: string, options: LoadEngineOptions = {}): Promise<Engine> {
    const { modelsDir, ...engineOptions } = options;
    return Engine.create(await loadModel(source, { modelsDir }), engineOptions);
  }

  /** Starts an engine: builds the sessions and θ's cache of the BOS token at position 0. */
  static async create(model: EngineModel, options: EngineOptions = {}): Promise<Engine> {
    const resolved = { ...DEFAULT_ENGINE_OPTIONS, ...withoutUndefined(options) };
    if (!Number.isSafeInteger(resolved.maxMemoryBytes) || resolved.maxMemoryBytes < 0) {
      throw new InvalidArgumentError(`maxMemoryBytes must be a non-negative integer, got ${String(resolved.maxMemoryBytes)}`);
    }
    // Checked before any session is built.
    new RequestQueue({ maxConcurrent: resolved.maxConcurrent, maxQueued: resolved.maxQueued });

    const languageModel = new LanguageModel(model.model, options.sessionOptions ?? {});
    await languageModel.prepare();
    const { bosTokenId } = model.model.config;
    const sink = (await languageModel.forward({ ids: [bosTokenId], positions: [0] })).cache;
    const { sessionOptions: _, ...limits } = resolved;
    return new Engine(languageModel, model.tokenizer, sink, limits);
  }

  get config(): LlamaConfig {
    return this.languageModel.config;
  }

  // -------------------------------------------------------------------------
  // Memories
  // -------------------------------------------------------------------------

  /**
   * Adds a memory from an object, the bytes of a memory file or a file path, and returns
   * its id: the sha256 of its decoded payload (see memoryId). Throws
   * MemoryModelMismatchError, naming both models, for a memory compiled for another
   * model, the artifact's format errors for invalid bytes, and MemoryTooLargeError.
   * A memory added from bytes is kept as views of a private copy of them.
   */
  async addMemory(source: MemorySource): Promise<string> {
    this.checkOpen();
    return this.store.add(source);
  }

  /**
   * Returns a memory by id, reading it again from its file when it was evicted. Throws
   * MemoryNotFoundError for an unknown id and MemoryEvictedError when an evicted memory
   * has no file to reload from.
   */
  async getMemory(id: string): Promise<Memory> {
    return this.store.get(id);
  }

  /** Removes a memory and returns whether it was known. Running requests keep reading it. */
  removeMemory(id: string): boolean {
    return this.store.remove(id);
  }

  /** Lists every memory added and not removed, cached or not. */
  memories(): MemoryInfo[] {
    return this.store.list();
  }

  memoryCacheStats(): CacheStats {
    return this.store.stats();
  }

  queueStats(): QueueStats {
    return this.queue.stats();
  }

  // -------------------------------------------------------------------------
  // Requests
  // -------------------------------------------------------------------------

  /**
   * Starts a generation and returns its stream of chunks at once. Throws, before anything
   * runs, InvalidArgumentError for an invalid request, MemoryNotFoundError for an unknown
   * memory id, QueueFullError when the queue is full and EngineClosedError after close.
   * Later failures (an evicted memory that cannot be reloaded, a prompt that does not fit
   * the context window) reject the stream and its summary.
   */
  generate(request: GenerateRequest): Generation {
    this.checkOpen();
    const requestedAt = performance.now();
    validateGenerateRequest(request, this.config.vocabSize);
    const sampler = new Sampler(request);
    const memoryIds = request.memories ?? [];
    checkMemoryIds(this.store, memoryIds);
    const promptIds = this.promptIds(request);
    const stop = request.stop ?? [];

    const { controller, ticket, done } = this.admit(request.signal);
    const { generation, writer } = Generation.create(controller);
    const job = {
      memoryIds,
      promptIds,
      maxTokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
      sampler,
      stops: typeof stop === "string" ? [stop] : [...stop],
      stopTokenIds: new Set(request.stopTokenIds ?? this.config.eosTokenIds),
      signal: controller.signal,
      requestedAt,
    };
    this.track(
      (async () => {
        try {
          await ticket.started;
          writer.finish(await runGeneration(this.reader, { ...job, startedAt: performance.now() }, writer));
        } catch (error) {
          writer.fail(error);
        } finally {
          done();
        }
      })(),
    );
    return generation;
  }

  /**
   * Returns the log-probability of each continuation token after the memories and the
   * prompt. Goes through the request queue like generate; a cancelled request rejects
   * with the signal's reason.
   */
  async scoreContinuation(request: ScoreRequest): Promise<ScoreResult> {
    this.checkOpen();
    validateScoreRequest(request, this.config.vocabSize);
    const memoryIds = request.memories ?? [];
    checkMemoryIds(this.store, memoryIds);
    const promptIds = this.promptIds(request);
    const continuationIds = request.continuationIds ?? this.continuationIds(request.prompt as string, request.continuation as string, promptIds);

    const { controller, ticket, done } = this.admit(request.signal);
    const task = (async () => {
      try {
        await ticket.started;
        controller.signal.throwIfAborted();
        return await runScore(this.reader, memoryIds, promptIds, continuationIds);
      } finally {
        done();
      }
    })();
    this.track(task.catch(() => undefined));
    return task;
  }

  /** Cancels queued and running requests, waits for them to end and releases the sessions. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const controller of this.active) controller.abort(new EngineClosedError("the engine was closed"));
    await Promise.allSettled([...this.tasks]);
    await this.languageModel.dispose();
  }

  // -------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new EngineClosedError("the engine was closed and accepts no more requests; create a new engine");
  }

  private promptIds(request: PromptInput): number[] {
    const ids = request.promptIds !== undefined ? [...request.promptIds] : this.tokenizer.encode(request.prompt as string, { addBos: false });
    if (ids.length === 0) throw new InvalidArgumentError("the prompt has no tokens; the model needs at least one prompt token to predict from");
    return ids;
  }

  private continuationIds(prompt: string, continuation: string, promptIds: readonly number[]): number[] {
    const ids = this.tokenizer.encode(prompt + continuation, { addBos: false });
    const prefixMatches = promptIds.every((id, i) => ids[i] === id);
    if (!prefixMatches || ids.length <= promptIds.length) {
      throw new InvalidArgumentError(
        `the continuation ${JSON.stringify(continuation)} does not add whole tokens after the prompt: the prompt's tokens change when it is appended, or it adds none; end the prompt before a space, or pass promptIds and continuationIds`,
      );
    }
    return ids.slice(promptIds.length);
  }

  /** Takes a place in the queue, linked to the caller's signal; `done` frees it. */
  private admit(signal: AbortSignal | undefined): { controller: AbortController; ticket: QueueTicket; done: () => void } {
    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason);
    if (signal?.aborted) forward();
    else signal?.addEventListener("abort", forward, { once: true });

    let ticket: QueueTicket;
    try {
      ticket = this.queue.enqueue(controller.signal);
    } catch (error) {
      signal?.removeEventListener("abort", forward);
      throw error;
    }
    this.active.add(controller);
    const admitted = ticket;
    return {
      controller,
      ticket: admitted,
      done: () => {
        admitted.release();
        this.active.delete(controller);
        signal?.removeEventListener("abort", forward);
      },
    };
  }

  private track(task: Promise<unknown>): void {
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
