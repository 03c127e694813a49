import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { InvalidArgumentError, Tensor } from "@lcc/tensor";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { readSafetensors, readSafetensorsHeader, readSafetensorsWithMetadata } from "./read.js";
import { writeSafetensors } from "./write.js";

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "lcc-safetensors-"));
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

/** Builds a safetensors file byte by byte, independently of the writer under test. */
function buildFile(headerText: string, data: number[]): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const bytes = new Uint8Array(8 + header.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  bytes.set(data, 8 + header.length);
  return bytes;
}

/** Views the bytes of a typed array, for bit-exact comparisons. */
function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

describe("writeSafetensors layout", () => {
  it("writes the documented bytes for one float32 tensor", async () => {
    const file = path.join(folder, "one.safetensors");
    await writeSafetensors(file, new Map([["a", Tensor.float32([2], [1, -2])]]));

    const bytes = new Uint8Array(await readFile(file));
    const headerJson = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const paddedLength = Math.ceil(headerJson.length / 8) * 8;
    expect(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)).toBe(BigInt(paddedLength));
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + paddedLength))).toBe(headerJson.padEnd(paddedLength, " "));
    // 1.0f = 0x3f800000 and -2.0f = 0xc0000000, little-endian.
    expect([...bytes.subarray(8 + paddedLength)]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
  });

  it("aligns every tensor to its element size", async () => {
    const file = path.join(folder, "mixed.safetensors");
    const tensors = new Map<string, Tensor>([
      ["half", new Tensor("float16", [3], new Uint16Array([1, 2, 3]))],
      ["byte", new Tensor("uint8", [1], new Uint8Array([7]))],
      ["single", Tensor.float32([3], [1, 2, 3])],
      ["long", Tensor.int64([2], [5n, -6n])],
    ]);
    await writeSafetensors(file, tensors, { note: "x" });

    const header = await readSafetensorsHeader(file);
    expect(header.dataStart % 8).toBe(0);
    expect(header.entries.map((entry) => entry.name)).toEqual(["long", "single", "half", "byte"]);
    for (const entry of header.entries) {
      const elementBytes = { int64: 8, float32: 4, float16: 2, uint8: 1 }[entry.dtype as "int64"];
      expect((header.dataStart + entry.begin) % elementBytes).toBe(0);
    }
    expect(header.metadata).toEqual({ note: "x" });
  });
});

describe("readSafetensors", () => {
  it("reads a hand-built file with padding and metadata", async () => {
    const file = path.join(folder, "hand.safetensors");
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},' +
      '"ids":{"dtype":"I32","shape":[1,1],"data_offsets":[4,8]},' +
      '"big":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},' +
      '"e":{"dtype":"F32","shape":[0,3],"data_offsets":[16,16]}}   ';
    // BF16 1.5 = 0x3fc0, -0.25 = 0xbe80; int32 -3; int64 2^40.
    const data = [0xc0, 0x3f, 0x80, 0xbe, 0xfd, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 0, 0];
    await writeFile(file, buildFile(header, data));

    const { tensors, metadata } = await readSafetensorsWithMetadata(file);
    expect(metadata).toEqual({ format: "pt" });
    expect([...tensors.keys()]).toEqual(["w", "ids", "big", "e"]);

    const w = tensorNamed(tensors, "w");
    expect(w.dtype).toBe("bfloat16");
    expect(w.shape).toEqual([2]);
    expect([...(w.data as Uint16Array)]).toEqual([0x3fc0, 0xbe80]);

    const ids = tensorNamed(tensors, "ids");
    expect(ids.dtype).toBe("int32");
    expect(ids.shape).toEqual([1, 1]);
    expect([...(ids.data as Int32Array)]).toEqual([-3]);

    const big = tensorNamed(tensors, "big");
    expect(big.dtype).toBe("int64");
    expect([...(big.data as BigInt64Array)]).toEqual([2n ** 40n]);

    const empty = tensorNamed(tensors, "e");
    expect(empty.shape).toEqual([0, 3]);
    expect(empty.size).toBe(0);
  });

  it("reads a file without metadata", async () => {
    const file = path.join(folder, "plain.safetensors");
    await writeFile(file, buildFile('{"s":{"dtype":"F16","shape":[],"data_offsets":[0,2]}}', [0x00, 0x3c]));
    const { tensors, metadata } = await readSafetensorsWithMetadata(file);
    expect(metadata).toEqual({});
    expect(tensorNamed(tensors, "s").shape).toEqual([]);
    expect([...(tensorNamed(tensors, "s").data as Uint16Array)]).toEqual([0x3c00]);
  });
});

describe("safetensors round trip", () => {
  it("keeps float32 bits, including NaN payloads and -0", async () => {
    const bits = new Uint32Array(4099);
    for (let i = 0; i < bits.length; i++) bits[i] = (Math.imul(i, 2654435761) ^ (i << 7)) >>> 0;
    bits.set([0x7fc00001, 0xffbfffff, 0x80000000, 0x00000001, 0x7f800000, 0xff800000], 0);
    const original = new Tensor("float32", [4099], new Float32Array(bits.buffer));

    const file = path.join(folder, "f32.safetensors");
    await writeSafetensors(file, new Map([["x", original]]));
    const restored = tensorNamed(await readSafetensors(file), "x");

    expect(restored.dtype).toBe("float32");
    expect(restored.shape).toEqual([4099]);
    expect(bytesOf(restored.data as Float32Array)).toEqual(bytesOf(original.data));
  });

  it("keeps every float16 and bfloat16 bit pattern", async () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < all.length; i++) all[i] = i;
    const tensors = new Map<string, Tensor>([
      ["f16", new Tensor("float16", [256, 256], all)],
      ["bf16", new Tensor("bfloat16", [65536], all.slice().reverse())],
    ]);

    const file = path.join(folder, "half.safetensors");
    await writeSafetensors(file, tensors, { format: "pt", source: "test" });
    const { tensors: restored, metadata } = await readSafetensorsWithMetadata(file);

    expect(metadata).toEqual({ format: "pt", source: "test" });
    for (const [name, tensor] of tensors) {
      const copy = tensorNamed(restored, name);
      expect(copy.dtype).toBe(tensor.dtype);
      expect(copy.shape).toEqual(tensor.shape);
      expect(bytesOf(copy.data as Uint16Array)).toEqual(bytesOf(tensor.data));
    }
  });

  it("writes and reads an empty tensor map", async () => {
    const file = path.join(folder, "empty.safetensors");
    await writeSafetensors(file, new Map());
    expect((await readSafetensors(file)).size).toBe(0);
  });

  it("keeps a tensor named __proto__ as data", async () => {
    const file = path.join(folder, "proto.safetensors");
    const metadata: Record<string, string> = Object.fromEntries([["__proto__", "m"]]);
    await writeSafetensors(file, new Map([["__proto__", Tensor.float32([1], [3])]]), metadata);
    const restored = await readSafetensorsWithMetadata(file);
    expect([...(tensorNamed(restored.tensors, "__proto__").data as Float32Array)]).toEqual([3]);
    expect(Object.getOwnPropertyDescriptor(restored.metadata, "__proto__")?.value).toBe("m");
    expect(Object.getPrototypeOf(restored.metadata)).toBe(Object.prototype);
  });
});

describe("writeSafetensors atomicity", () => {
  it("replaces an existing file and leaves no temporary file", async () => {
    const file = path.join(folder, "model.safetensors");
    await writeSafetensors(file, new Map([["a", Tensor.float32([1], [1])]]));
    await writeSafetensors(file, new Map([["b", Tensor.float32([2], [2, 3])]]));

    expect(await readdir(folder)).toEqual(["model.safetensors"]);
    const tensors = await readSafetensors(file);
    expect([...tensors.keys()]).toEqual(["b"]);
  });

  it("keeps the old file when arguments are invalid", async () => {
    const file = path.join(folder, "model.safetensors");
    await writeSafetensors(file, new Map([["a", Tensor.float32([1], [1])]]));
    const before = await readFile(file);

    const bad = new Map<string, Tensor>([
      ["__metadata__", Tensor.float32([1], [1])],
      ["", Tensor.float32([1], [1])],
    ]);
    const failure = await writeSafetensors(file, bad).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InvalidArgumentError);
    expect((failure as Error).name).toBe("InvalidArgumentError");
    expect((failure as Error).message).toMatch(/reserves for metadata/);
    expect((failure as Error).message).toMatch(/empty name/);

    expect(await readFile(file)).toEqual(before);
    expect(await readdir(folder)).toEqual(["model.safetensors"]);
  });

  it("removes the temporary file when the target cannot be replaced", async () => {
    // Renaming a file over a non-empty directory fails after the data was written.
    const target = path.join(folder, "occupied");
    await mkdir(path.join(target, "child"), { recursive: true });

    await expect(writeSafetensors(target, new Map([["a", Tensor.float32([1], [1])]]))).rejects.toThrow();
    expect((await readdir(folder)).sort()).toEqual(["occupied"]);
  });
});
