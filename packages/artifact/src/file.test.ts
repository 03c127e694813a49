import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { InvalidArgumentError } from "@lcc/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { encodeMemory } from "./encode.js";
import { MemoryChecksumError, MemoryFileError, MemoryModelMismatchError } from "./errors.js";
import { readMemoryFile, writeMemoryFile } from "./file.js";
import { bitsOf, makeMemory } from "./test/memories.js";
import { STORAGE_DTYPES } from "./types.js";

describe("memory files", () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), "lcc-artifact-"));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it.each(STORAGE_DTYPES)("%s file has the encodeMemory bytes", async (dtype) => {
    const memory = makeMemory({ layers: 3, bufferTokens: 9, kvHeads: 2, headDim: 16 }, 5);
    const file = path.join(folder, `story-${dtype}.lccm`);
    await writeMemoryFile(file, memory, { dtype, includeSourceText: true });
    expect(new Uint8Array(await readFile(file))).toEqual(encodeMemory(memory, { dtype, includeSourceText: true }));

    const decoded = await readMemoryFile(file);
    expect(decoded.storedDType).toBe(dtype);
    expect(decoded.sourceText).toBe(memory.sourceText);
    if (dtype === "float32") expect(bitsOf(decoded.layers[2]!.values.data)).toEqual(bitsOf(memory.layers[2]!.values.data));
  });

  it("replaces a file and leaves no temporary files", async () => {
    const file = path.join(folder, "replaced.lccm");
    await writeFile(file, "old content");
    await writeMemoryFile(file, makeMemory(), { dtype: "float16" });
    expect((await readMemoryFile(file)).fingerprint.name).toBe("stories260K");
    const names = await readdir(folder);
    expect(names.filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("keeps the old file when encoding fails", async () => {
    const file = path.join(folder, "kept.lccm");
    await writeFile(file, "old content");
    const invalid = { ...makeMemory(), positions: [] };
    await expect(writeMemoryFile(file, invalid, { dtype: "float16" })).rejects.toThrow(InvalidArgumentError);
    expect(await readFile(file, "utf8")).toBe("old content");
    expect((await readdir(folder)).filter((name) => name.includes("kept.lccm."))).toEqual([]);
  });

  it("raises MemoryFileError for a missing folder", async () => {
    const file = path.join(folder, "no-such-folder", "memory.lccm");
    const write = writeMemoryFile(file, makeMemory(), { dtype: "float16" });
    await expect(write).rejects.toThrow(MemoryFileError);
    await expect(write).rejects.toThrow(
      /cannot write memory file .*memory\.lccm \(ENOENT: .*\)\nhint: check the path; the folder must exist/,
    );
  });

  it("raises MemoryFileError for a missing file", async () => {
    const read = readMemoryFile(path.join(folder, "missing.lccm"));
    await expect(read).rejects.toThrow(MemoryFileError);
    await expect(read).rejects.toThrow(/cannot read memory file .*missing\.lccm \(ENOENT/);
  });

  it("reports a truncated file", async () => {
    const file = path.join(folder, "truncated.lccm");
    const bytes = encodeMemory(makeMemory(), { dtype: "int8" });
    await writeFile(file, bytes.subarray(0, bytes.length - 10));
    await expect(readMemoryFile(file)).rejects.toThrow(MemoryChecksumError);
  });

  it("checks the expected model", async () => {
    const file = path.join(folder, "model.lccm");
    await writeMemoryFile(file, makeMemory(), { dtype: "float16" });
    await expect(readMemoryFile(file, { expect: { name: "other", numLayers: 30 } })).rejects.toThrow(MemoryModelMismatchError);
  });
});
