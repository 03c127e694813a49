import { mkdtemp, readFile, readdir, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { Tensor } from "@lcc/tensor";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { ModelLoadError } from "../errors.js";
import { SAFETENSORS_INDEX_FILE, readShardedSafetensors, writeShardedSafetensors } from "./sharded.js";
import { writeSafetensors } from "./write.js";

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "lcc-sharded-"));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Returns the tensor called `name`, failing the test when it is absent. */
function tensorNamed(tensors: ReadonlyMap<string, Tensor>, name: string): Tensor {
  const tensor = tensors.get(name);
  if (tensor === undefined) throw new Error(`tensor "${name}" is missing`);
  return tensor;
}

/** Five float32 tensors of 16, 24, 8, 40 and 4 bytes. */
function sampleTensors(): Map<string, Tensor> {
  return new Map([
    ["a", Tensor.float32([4], [1, 2, 3, 4])],
    ["b", Tensor.float32([2, 3], [5, 6, 7, 8, 9, 10])],
    ["c", Tensor.float32([2], [-1, -2])],
    ["d", Tensor.float32([10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])],
    ["e", Tensor.float32([], [42])],
  ]);
}

async function writeIndex(weightMap: Record<string, string>): Promise<string> {
  const indexPath = path.join(folder, SAFETENSORS_INDEX_FILE);
  await writeFile(indexPath, JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return indexPath;
}

async function shardedError(indexPath: string): Promise<ModelLoadError> {
  const error = await readShardedSafetensors(indexPath).then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ModelLoadError);
  expect((error as Error).name).toBe("ModelLoadError");
  return error as ModelLoadError;
}

describe("sharded safetensors", () => {
  it("splits tensors into shards and writes the index", async () => {
    const files = await writeShardedSafetensors(folder, sampleTensors(), { maxShardBytes: 40, metadata: { format: "pt" } });

    // a+b = 40 bytes, c = 8 (d would exceed 40), d = 40, e = 4.
    expect(files).toEqual(["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"]);
    expect((await readdir(folder)).sort()).toEqual([...files, SAFETENSORS_INDEX_FILE].sort());
    const index = JSON.parse(await readFile(path.join(folder, SAFETENSORS_INDEX_FILE), "utf8"));
    expect(index.metadata).toEqual({ total_size: 92 });
    expect(index.weight_map).toEqual({
      a: files[0],
      b: files[0],
      c: files[1],
      d: files[2],
      e: files[3],
    });
  });

  it("reads back every tensor bit for bit", async () => {
    const tensors = sampleTensors();
    await writeShardedSafetensors(folder, tensors, { maxShardBytes: 40 });
    const restored = await readShardedSafetensors(path.join(folder, SAFETENSORS_INDEX_FILE));

    expect([...restored.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, tensor] of tensors) {
      const copy = tensorNamed(restored, name);
      expect(copy.dtype).toBe("float32");
      expect(copy.shape).toEqual(tensor.shape);
      expect([...(copy.data as Float32Array)]).toEqual([...(tensor.data as Float32Array)]);
    }
  });

  it("reports a missing shard file", async () => {
    await writeShardedSafetensors(folder, sampleTensors(), { maxShardBytes: 40 });
    await unlink(path.join(folder, "model-00003-of-00004.safetensors"));
    const error = await shardedError(path.join(folder, SAFETENSORS_INDEX_FILE));
    expect(error.message).toMatch(/shard file model-00003-of-00004\.safetensors \(listed for 1 tensors\) not found/);
  });

  it("reports listed tensors missing from their shard and unlisted ones", async () => {
    await writeSafetensors(path.join(folder, "one.safetensors"), new Map([["a", Tensor.float32([1], [1])], ["stray", Tensor.float32([1], [2])]]));
    await writeSafetensors(path.join(folder, "two.safetensors"), new Map([["b", Tensor.float32([1], [3])], ["c", Tensor.float32([1], [4])]]));
    const indexPath = await writeIndex({ a: "one.safetensors", b: "two.safetensors", c: "one.safetensors", gone: "two.safetensors" });

    const error = await shardedError(indexPath);
    expect(error.message).toContain(indexPath);
    expect(error.message).toMatch(/tensor "c" is listed for one\.safetensors but missing from it/);
    expect(error.message).toMatch(/tensor "stray" is stored in one\.safetensors but not listed in weight_map/);
    expect(error.message).toMatch(/tensor "gone" is listed for two\.safetensors but missing from it/);
    expect(error.message).toMatch(/tensor "c" is stored in two\.safetensors but weight_map lists it for one\.safetensors/);
    expect(error.details.problems).toHaveLength(4);
  });

  it("rejects an invalid index", async () => {
    const indexPath = path.join(folder, SAFETENSORS_INDEX_FILE);
    await writeFile(indexPath, "{ not json");
    expect((await shardedError(indexPath)).message).toMatch(/the index is not valid JSON/);

    await writeIndex({ a: "../outside.safetensors", b: "/abs/b.safetensors" });
    const error = await shardedError(indexPath);
    expect(error.message).toMatch(/weight_map\["a"\] = "\.\.\/outside\.safetensors" must name a file in the index's folder/);
    expect(error.message).toMatch(/weight_map\["b"\] = "\/abs\/b\.safetensors" must name a file in the index's folder/);

    await writeFile(indexPath, JSON.stringify({ metadata: {} }));
    expect((await shardedError(indexPath)).message).toMatch(/"weight_map" must be an object/);
  });

  it("reports a missing index file", async () => {
    const error = await shardedError(path.join(folder, SAFETENSORS_INDEX_FILE));
    expect(error.message).toMatch(/model\.safetensors\.index\.json not found/);
  });
});
