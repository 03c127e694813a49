/**
 * A least-recently-used cache bounded by bytes. Adding an entry evicts the least recently
 * used other entries until the total fits the budget again.
 */

import { InvalidArgumentError } from "@lcc/tensor";

export interface CacheStats {
  readonly entries: number;
  /** Sum of the entries' sizes. */
  readonly bytes: number;
  readonly maxBytes: number;
  /** Entries evicted to make room since the cache was created. */
  readonly evictions: number;
}

interface Entry<V> {
  readonly value: V;
  readonly bytes: number;
}

export class LruByteCache<V> {
  /** Entries in use order: the first is the least recently used. */
  private readonly entries = new Map<string, Entry<V>>();
  private totalBytes = 0;
  private evictionCount = 0;

  /**
   * @param maxBytes budget of the summed entry sizes, for example 1 GiB.
   * @param onEvict called with each key evicted to make room (not for `delete`).
   */
  constructor(
    readonly maxBytes: number,
    private readonly onEvict: (key: string) => void = () => undefined,
  ) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new InvalidArgumentError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
  }

  /** Returns the value and marks it most recently used, or undefined when absent. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * Stores `value` as the most recently used entry and evicts the least recently used
   * others until the total is within `maxBytes`. The caller checks `bytes <= maxBytes`.
   */
  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    this.entries.set(key, { value, bytes });
    this.totalBytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.totalBytes <= this.maxBytes || oldest === key) break;
      this.entries.delete(oldest);
      this.totalBytes -= entry.bytes;
      this.evictionCount++;
      this.onEvict(oldest);
    }
  }

  /** Removes an entry; returns whether it was present. */
  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    this.totalBytes -= entry.bytes;
    return true;
  }

  /** Keys from the least to the most recently used. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  stats(): CacheStats {
    return { entries: this.entries.size, bytes: this.totalBytes, maxBytes: this.maxBytes, evictions: this.evictionCount };
  }
}
