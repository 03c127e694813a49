import { InvalidArgumentError } from "@lcc/tensor";
import { describe, expect, it } from "vitest";
import { QueryPoolError } from "./errors.js";
import { STORY_OPENINGS, getQueryPool, hasQueryPool, listQueryPools, registerQueryPool } from "./query-pools.js";

describe("query pool registry", () => {
  it("returns registered entries and built-in pools by name", async () => {
    registerQueryPool("registry-direct", ["The owl said", "A fox ran to"]);
    expect(await getQueryPool("registry-direct")).toEqual(["The owl said", "A fox ran to"]);
    expect(await getQueryPool("story-openings")).toBe(STORY_OPENINGS);
    expect(hasQueryPool("registry-direct")).toBe(true);
    expect(hasQueryPool("instructions")).toBe(true);
    expect(hasQueryPool("pool.jsonl")).toBe(false);
    expect(listQueryPools().slice(0, 3)).toEqual(["instructions", "story-openings", "registry-direct"]);
  });

  it("copies entries given directly", async () => {
    const entries = ["First entry"];
    registerQueryPool("registry-copied", entries);
    entries.push("added later");
    expect(await getQueryPool("registry-copied")).toEqual(["First entry"]);
  });

  it("runs a loader once and caches its entries", async () => {
    let calls = 0;
    registerQueryPool("registry-loader", async () => {
      calls += 1;
      return ["Loaded one", "Loaded two"];
    });
    expect(calls).toBe(0);
    expect(await getQueryPool("registry-loader")).toEqual(["Loaded one", "Loaded two"]);
    expect(await getQueryPool("registry-loader")).toEqual(["Loaded one", "Loaded two"]);
    expect(calls).toBe(1);
  });

  it("reports a failing loader and runs it again next time", async () => {
    let calls = 0;
    registerQueryPool("registry-flaky", () => {
      calls += 1;
      if (calls === 1) throw new Error("disk not ready");
      return ["Second try"];
    });
    await expect(getQueryPool("registry-flaky")).rejects.toThrow(QueryPoolError);
    await expect(getQueryPool("registry-flaky")).resolves.toEqual(["Second try"]);
    expect(calls).toBe(2);
  });

  it("rejects invalid entries with every problem listed", async () => {
    expect(() => registerQueryPool("registry-empty", [])).toThrow(/invalid query pool "registry-empty": the pool has no entries/);
    expect(() => registerQueryPool("registry-bad", ["ok", "", 3 as unknown as string])).toThrow(
      /invalid query pool "registry-bad": entry 1 is empty; entry 2 must be a string, got a number/,
    );
    registerQueryPool("registry-bad-loader", () => ["fine", "  "]);
    await expect(getQueryPool("registry-bad-loader")).rejects.toThrow(
      /the loader of query pool "registry-bad-loader" returned invalid entries: entry 1 is empty/,
    );
    expect(hasQueryPool("registry-empty")).toBe(false);
  });

  it("rejects invalid and taken names", () => {
    expect(() => registerQueryPool("Fables", ["x"])).toThrow(InvalidArgumentError);
    expect(() => registerQueryPool("pool.jsonl", ["x"])).toThrow(/must be lowercase words of letters and digits joined by '-'/);
    expect(() => registerQueryPool("story-openings", ["x"])).toThrow(
      /query pool "story-openings" is already a built-in pool; choose another name/,
    );
    registerQueryPool("registry-taken", ["x"]);
    expect(() => registerQueryPool("registry-taken", ["y"])).toThrow(/query pool "registry-taken" is already a registered pool/);
  });

  it("lists known pools for an unknown name", async () => {
    await expect(getQueryPool("no-such-pool")).rejects.toThrow(QueryPoolError);
    await expect(getQueryPool("no-such-pool")).rejects.toThrow(
      /unknown query pool "no-such-pool"; known pools: instructions, story-openings, .*load the plugin that adds the pool/,
    );
  });
});
