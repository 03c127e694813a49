/**
 * The engine's memories: every memory added, by id, with the decoded ones kept in a
 * least-recently-used cache bounded by bytes. A memory added from a file is read again
 * from that file after it was evicted. A memory added as bytes or as an object is not.
 */

import path from "node:path";
import { type Memory, type ModelFingerprint, decodeMemory, readMemoryFile, validateMemory } from "@lcc/artifact";
import { InvalidArgumentError } from "@lcc/tensor";
import { MemoryEvictedError, MemoryNotFoundError, MemoryTooLargeError } from "./errors.js";
import { type CacheStats, LruByteCache } from "./memory-cache.js";
import { memoryByteSize, memoryId } from "./memory-id.js";

/** A memory object, the bytes of a memory file, or the path of a memory file. */
export type MemorySource = Memory | Uint8Array | string;

export interface MemoryInfo {
  readonly id: string;
  /** Readable name of the model the memory was compiled for, e.g. "stories260K". */
  readonly modelName: string;
  readonly sourceTokens: number; // L
  readonly bufferTokens: number; // K
  /** Bytes the memory takes in the cache (see memoryByteSize). */
  readonly bytes: number;
  /** Whether the decoded memory is in the cache now. */
  readonly cached: boolean;
  /** The absolute file path it is reloaded from after eviction, or null. */
  readonly path: string | null;
}

interface MemoryRecord {
  readonly modelName: string;
  readonly sourceTokens: number;
  readonly bufferTokens: number;
  readonly bytes: number;
  path: string | null;
}

export class MemoryStore {
  private readonly records = new Map<string, MemoryRecord>();
  private readonly cache: LruByteCache<Memory>;
  /** Reloads in progress, so that concurrent requests for one evicted memory read its file once. */
  private readonly reloads = new Map<string, Promise<Memory>>();

  constructor(
    private readonly fingerprint: ModelFingerprint,
    maxBytes: number,
  ) {
    this.cache = new LruByteCache<Memory>(maxBytes);
  }

  /**
   * Decodes, checks and caches a memory and returns its id (see memoryId). Adding a memory
   * that is already known returns the same id, caches it again if it was evicted and, for
   * a path, remembers the path for later reloads.
   */
  async add(source: MemorySource): Promise<string> {
    const filePath = typeof source === "string" ? path.resolve(source) : null;
    const memory = await this.decode(source);
    const id = memoryId(memory);
    const bytes = memoryByteSize(memory);
    if (bytes > this.cache.maxBytes) {
      throw new MemoryTooLargeError(
        `the memory needs ${bytes} bytes but the memory cache has a budget of ${this.cache.maxBytes} bytes; raise maxMemoryBytes to at least ${bytes}`,
        { details: { bytes, maxBytes: this.cache.maxBytes } },
      );
    }

    const known = this.records.get(id);
    if (known === undefined) {
      this.records.set(id, {
        modelName: memory.fingerprint.name,
        sourceTokens: memory.compression.sourceTokens,
        bufferTokens: memory.compression.bufferTokens,
        bytes,
        path: filePath,
      });
    } else if (filePath !== null) {
      known.path = filePath;
    }
    this.cache.set(id, memory, bytes);
    return id;
  }

  /** Returns the memory, reading it again from its file when it was evicted. */
  async get(id: string): Promise<Memory> {
    const cached = this.cache.get(id);
    if (cached !== undefined) return cached;
    const record = this.records.get(id);
    if (record === undefined) throw notFound(id);
    if (record.path === null) {
      throw new MemoryEvictedError(
        `memory ${id} was evicted from the memory cache and cannot be reloaded because it was added without a file path; add it again with addMemory, add it from a file, or raise maxMemoryBytes`,
        { details: { id } },
      );
    }

    let reload = this.reloads.get(id);
    if (reload === undefined) {
      reload = this.reload(id, record.path).finally(() => this.reloads.delete(id));
      this.reloads.set(id, reload);
    }
    return reload;
  }

  /** Returns whether a memory with this id was added and not removed. */
  has(id: string): boolean {
    return this.records.has(id);
  }

  /** Removes a memory and returns whether it was known. Requests already running keep their copy. */
  remove(id: string): boolean {
    this.cache.delete(id);
    return this.records.delete(id);
  }

  list(): MemoryInfo[] {
    return [...this.records].map(([id, record]) => ({ id, ...record, cached: this.cache.has(id) }));
  }

  stats(): CacheStats {
    return this.cache.stats();
  }

  private async decode(source: MemorySource): Promise<Memory> {
    const expect = this.fingerprint;
    if (typeof source === "string") return readMemoryFile(source, { expect });

    // decodeMemory may return views of its input, so it gets a copy the caller cannot change.
    if (source instanceof Uint8Array) return decodeMemory(new Uint8Array(source), { expect });
    if (typeof source !== "object" || source === null) {
      throw new InvalidArgumentError(`addMemory expects a Memory object, the bytes of a memory file or a file path, got ${source === null ? "null" : typeof source}`);
    }
    validateMemory(source, { expect });
    return source;
  }

  private async reload(id: string, filePath: string): Promise<Memory> {
    const memory = await readMemoryFile(filePath, { expect: this.fingerprint });
    const reloadedId = memoryId(memory);
    if (reloadedId !== id) {
      throw new MemoryEvictedError(
        `memory ${id} was evicted from the memory cache, and its file ${filePath} now contains another memory (${reloadedId}); add the file again to use its new content`,
        { details: { id, path: filePath, fileMemoryId: reloadedId } },
      );
    }
    const record = this.records.get(id);
    if (record !== undefined) this.cache.set(id, memory, record.bytes);
    return memory;
  }
}

function notFound(id: string): MemoryNotFoundError {
  return new MemoryNotFoundError(`no memory with id ${id} was added to this engine; add it with addMemory first and pass the id it returns`, { details: { id } });
}

/** Throws MemoryNotFoundError unless every id is known to `store`. */
export function checkMemoryIds(store: MemoryStore, ids: readonly string[]): void {
  const unknown = ids.find((id) => !store.has(id));
  if (unknown !== undefined) throw notFound(unknown);
}
