import { readFile } from "node:fs/promises";
import type { PluginApi } from "@lcc/plugin-api";
import { describe, expect, it } from "vitest";
import plugin, { FABLES_POOL, FABLE_OPENINGS } from "./index.js";

describe("fables plugin", () => {
  it("has the name and version of its package", async () => {
    const manifest = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as { name: string; version: string };
    expect(plugin.name).toBe(manifest.name);
    expect(plugin.version).toBe(manifest.version);
    expect(typeof plugin.register).toBe("function");
  });

  it("registers exactly the fables pool", async () => {
    const calls: [string, unknown][] = [];
    const api: PluginApi = {
      apiVersion: 1,
      registerQueryPool: (name, entries) => calls.push([name, entries]),
      registerLoss: () => calls.push(["loss", null]),
      registerModelFamily: () => calls.push(["family", null]),
      registerArtifactStore: () => calls.push(["store", null]),
    };
    await plugin.register(api);
    expect(calls).toEqual([[FABLES_POOL, FABLE_OPENINGS]]);
    expect(FABLES_POOL).toBe("fables");
  });
});

describe("FABLE_OPENINGS", () => {
  it("has at least 64 distinct entries", () => {
    expect(FABLE_OPENINGS.length).toBeGreaterThanOrEqual(64);
    const normalised = FABLE_OPENINGS.map((entry) => entry.toLowerCase().replace(/\s+/g, " ").trim());
    expect(new Set(normalised).size).toBe(FABLE_OPENINGS.length);
  });

  it("breaks off every entry mid-sentence", () => {
    for (const entry of FABLE_OPENINGS) {
      expect(entry, entry).toBe(entry.trim());
      expect(entry, entry).not.toMatch(/[.!?"]$/);
      expect(entry.split(/\s+/).length, entry).toBeGreaterThanOrEqual(8);
    }
  });
});
