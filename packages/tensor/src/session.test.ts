import { mkdtemp, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GraphError, SessionInputError } from "./errors.js";
import { Graph } from "./graph.js";
import * as ops from "./ops/index.js";
import { Session } from "./runtime/session.js";
import { Tensor } from "./tensor.js";

function affineGraph(): Graph {
  // y = x @ W + b with W = [[1, 2], [3, 4], [5, 6]], b = [0.5, -0.5]
  const g = new Graph("affine");
  const x = g.input("x", "float32", ["B", 3]); // [B, 3]
  const w = g.initializer("w", Tensor.float32([3, 2], [1, 2, 3, 4, 5, 6])); // [3, 2]
  const b = g.initializer("b", Tensor.float32([2], [0.5, -0.5])); // [2]
  g.output(ops.add(ops.matmul(x, w), b), "y"); // [B, 2]
  return g;
}

describe("Session", () => {
  it("runs a small graph", async () => {
    const session = await Session.create(affineGraph(), { cacheDir: null, threads: 1 });
    const { y } = await session.run({ x: Tensor.float32([2, 3], [1, 0, 0, 1, 1, 1]) });
    expect(y?.shape).toEqual([2, 2]);
    expect(Array.from(y?.data as Float32Array)).toEqual([1.5, 1.5, 9.5, 11.5]);
    await session.dispose();
  });

  it("stores graphs in the disk cache by content hash", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "lcc-cache-"));
    const first = await Session.create(affineGraph(), { cacheDir: dir });
    const second = await Session.create(affineGraph(), { cacheDir: dir });
    expect(second.contentHash).toBe(first.contentHash);
    expect(await readdir(dir)).toEqual([first.contentHash]);
    const { y } = await second.run({ x: Tensor.float32([1, 3], [1, 1, 1]) });
    expect(Array.from(y?.data as Float32Array)).toEqual([9.5, 11.5]);
    await first.dispose();
    await second.dispose();
  });

  it("stores large weights as external data", async () => {
    // y = x @ W with W [64, 32] (8 KiB, above the 1 KiB inline threshold), W[i][j] = i - j.
    const g = new Graph("external");
    const x = g.input("x", "float32", [1, 64]);
    const w = g.initializer("w", Tensor.float32([64, 32], Array.from({ length: 64 * 32 }, (_, k) => Math.floor(k / 32) - (k % 32))));
    g.output(ops.matmul(x, w), "y");
    const dir = await mkdtemp(path.join(os.tmpdir(), "lcc-external-"));
    const session = await Session.create(g, { cacheDir: dir });
    const files = await readdir(path.join(dir, session.contentHash));
    expect(files.sort()).toEqual(["model.onnx", "model.onnx.data"]);
    const ones = Tensor.float32([1, 64], new Array(64).fill(1));
    const { y } = await session.run({ x: ones });
    // Column j sums i - j over i = 0..63: 2016 - 64 j.
    expect(Array.from(y?.data as Float32Array)).toEqual(Array.from({ length: 32 }, (_, j) => 2016 - 64 * j));
    await session.dispose();
  });

  it("lists every feed problem at once", async () => {
    const session = await Session.create(affineGraph(), { cacheDir: null });
    await expect(session.run({ z: Tensor.float32([1, 3]) })).rejects.toThrow(SessionInputError);
    await expect(session.run({ z: Tensor.float32([1, 3]) })).rejects.toThrow(/missing input "x"[\s\S]*unexpected input "z"/);
    await expect(session.run({ x: Tensor.float64([1, 3]) })).rejects.toThrow(/input "x" must be float32, got float64/);
    await expect(session.run({ x: Tensor.float32([1, 4]) })).rejects.toThrow(/input "x" axis 1 must be 3, got 4/);
    await expect(session.run({ x: Tensor.float32([3]) })).rejects.toThrow(/must have shape \[B, 3\], got \[3\]/);
    await session.dispose();
  });

  it("rejects an operator applied to mismatched shapes while building", () => {
    const g = new Graph();
    const a = g.input("a", "float32", [2, 3]);
    const b = g.input("b", "float32", [4, 5]);
    expect(() => ops.matmul(a, b)).toThrow(GraphError);
    expect(() => ops.matmul(a, b)).toThrow(/MatMul: inner dimensions differ: \[2, 3\] @ \[4, 5\]/);
  });
});
