import { describe, expect, it } from "vitest";
import { LruByteCache } from "./memory-cache.js";

describe("LruByteCache", () => {
  it("evicts the least recently used entries by bytes", () => {
    const evicted: string[] = [];
    const cache = new LruByteCache<string>(100, (key) => evicted.push(key));
    cache.set("a", "A", 40);
    cache.set("b", "B", 40);
    expect(cache.get("a")).toBe("A"); // a is now the most recently used
    cache.set("c", "C", 40);
    expect(evicted).toEqual(["b"]);
    expect(cache.keys()).toEqual(["a", "c"]);
    expect(cache.stats()).toEqual({ entries: 2, bytes: 80, maxBytes: 100, evictions: 1 });
  });

  it("evicts several entries for one large entry", () => {
    const cache = new LruByteCache<number>(100);
    for (const [key, bytes] of [["a", 30], ["b", 30], ["c", 30]] as const) cache.set(key, bytes, bytes);
    cache.set("d", 90, 90);
    expect(cache.keys()).toEqual(["d"]);
    expect(cache.stats().evictions).toBe(3);
    expect(cache.stats().bytes).toBe(90);
  });

  it("replaces an entry under the same key", () => {
    const cache = new LruByteCache<string>(100);
    cache.set("a", "old", 60);
    cache.set("a", "new", 70);
    expect(cache.get("a")).toBe("new");
    expect(cache.stats()).toEqual({ entries: 1, bytes: 70, maxBytes: 100, evictions: 0 });
  });

  it("deletes without counting an eviction", () => {
    const cache = new LruByteCache<string>(100);
    cache.set("a", "A", 10);
    expect(cache.delete("a")).toBe(true);
    expect(cache.delete("a")).toBe(false);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0, maxBytes: 100, evictions: 0 });
  });

  it("rejects a negative budget", () => {
    expect(() => new LruByteCache(-1)).toThrow(/maxBytes must be a non-negative integer, got -1/);
  });
});
