import { mkdtemp, readFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { InvalidArgumentError } from "@lcc/tensor";
import { describe, expect, it } from "vitest";
import { createDirectoryStore, listArtifactStores, openArtifactStore, registerArtifactStore } from "./artifact-stores.js";

describe("directory store", () => {
  it("puts, gets, lists and deletes artifacts as files", async () => {
    const folder = path.join(await mkdtemp(path.join(os.tmpdir(), "lcc-store-")), "memories");
    const store = await openArtifactStore("directory", folder);
    expect(await store.list()).toEqual([]);
    expect(await store.get("story.lccm")).toBeNull();

    await store.put("story.lccm", Uint8Array.of(1, 2, 3));
    await store.put("a-first.lccm", Uint8Array.of(9));
    await store.put("story.lccm", Uint8Array.of(4, 5));
    expect(await store.get("story.lccm")).toEqual(Uint8Array.of(4, 5));
    expect(new Uint8Array(await readFile(path.join(folder, "story.lccm")))).toEqual(Uint8Array.of(4, 5));
    expect(await store.list()).toEqual(["a-first.lccm", "story.lccm"]);
    // Writes leave no temporary files behind.
    expect((await readdir(folder)).sort()).toEqual(["a-first.lccm", "story.lccm"]);

    expect(await store.delete("story.lccm")).toBe(true);
    expect(await store.delete("story.lccm")).toBe(false);
    expect(await store.list()).toEqual(["a-first.lccm"]);
  });

  it("rejects keys that could leave the folder", async () => {
    const store = createDirectoryStore(await mkdtemp(path.join(os.tmpdir(), "lcc-store-")));
    for (const key of ["../escape", "a/b", ".hidden", "", "x".repeat(201)]) {
      await expect(store.put(key, Uint8Array.of(1))).rejects.toThrow(InvalidArgumentError);
      await expect(store.get(key)).rejects.toThrow(/invalid artifact key/);
    }
  });
});

describe("artifact store registry", () => {
  it("opens a registered factory at a location", async () => {
    const opened: string[] = [];
    registerArtifactStore("recording", (location) => {
      opened.push(location);
      return createDirectoryStore(location);
    });
    const folder = await mkdtemp(path.join(os.tmpdir(), "lcc-store-"));
    const store = await openArtifactStore("recording", folder);
    await store.put("k", Uint8Array.of(7));
    expect(opened).toEqual([folder]);
    expect(listArtifactStores().slice(0, 1)).toEqual(["directory"]);
    expect(listArtifactStores()).toContain("recording");
  });

  it("rejects invalid registrations and lookups", async () => {
    expect(() => registerArtifactStore("directory", createDirectoryStore)).toThrow(
      /artifact store "directory" is already the built-in store/,
    );
    expect(() => registerArtifactStore("S3", createDirectoryStore)).toThrow(/must be lowercase words/);
    expect(() => registerArtifactStore("half", { put: async () => undefined } as never)).toThrow(
      /must be a factory function or an object with put, get, list and delete methods/,
    );
    await expect(openArtifactStore("nowhere", "x")).rejects.toThrow(/unknown artifact store "nowhere"; known stores: directory/);
    await expect(openArtifactStore("directory")).rejects.toThrow(/artifact store "directory" needs a location/);
    registerArtifactStore("broken-factory", () => ({}) as never);
    await expect(openArtifactStore("broken-factory", "x")).rejects.toThrow(
      /the factory of artifact store "broken-factory" returned no object with put, get, list and delete methods/,
    );
  });
});
