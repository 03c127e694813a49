import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { Tensor } from "@lcc/tensor";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { ModelLoadError } from "../errors.js";
import { readSafetensors, readSafetensorsHeader } from "./read.js";
import { writeSafetensors } from "./write.js";

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "lcc-safetensors-invalid-"));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Writes a file whose 8-byte prefix states `declaredLength` (the real header length by default). */
async function writeRaw(name: string, headerText: string, dataBytes: number, declaredLength?: bigint): Promise<string> {
  const header = new TextEncoder().encode(headerText);
  const bytes = new Uint8Array(8 + header.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, declaredLength ?? BigInt(header.length), true);
  bytes.set(header, 8);
  const file = path.join(folder, name);
  await writeFile(file, bytes);
  return file;
}

/** Reads `file` and returns the error it raises, failing the test if it raises none. */
async function readError(file: string): Promise<ModelLoadError> {
  const error = await readSafetensors(file).then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ModelLoadError);
  expect((error as Error).name).toBe("ModelLoadError");
  return error as ModelLoadError;
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: "F32", shape, data_offsets: [begin, end] });

describe("safetensors validation", () => {
  it("reports a missing file", async () => {
    const error = await readError(path.join(folder, "absent.safetensors"));
    expect(error.message).toMatch(/absent\.safetensors not found/);
  });

  it("rejects a file shorter than the length prefix", async () => {
    const file = path.join(folder, "tiny.safetensors");
    await writeFile(file, new Uint8Array([1, 2, 3]));
    const error = await readError(file);
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/has 3 bytes, fewer than the 8-byte header length/);
  });

  it("rejects a header length beyond the file size", async () => {
    const file = await writeRaw("long.safetensors", "{}", 0, 1000n);
    const error = await readError(file);
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/header length 1000 exceeds the 2 bytes that follow it in the 10-byte file/);
  });

  it("rejects a header length above 2^53", async () => {
    const file = await writeRaw("huge.safetensors", "{}", 0, 2n ** 63n);
    const error = await readError(file);
    expect(error.message).toMatch(/header length 9223372036854775808 exceeds/);
  });

  it("rejects a header that is not JSON", async () => {
    const file = await writeRaw("json.safetensors", '{"a": {"dtype": "F32",', 0);
    const error = await readError(file);
    expect(error.message).toMatch(/header is not valid JSON/);
  });

  it("rejects a header that does not start with a brace", async () => {
    const file = await writeRaw("brace.safetensors", '  {"a":1}', 0);
    const error = await readError(file);
    expect(error.message).toMatch(/header must start with "\{"/);
  });

  it("rejects an unknown dtype, naming the tensor", async () => {
    const header = JSON.stringify({ "model.norm.weight": { dtype: "F8_E4M3", shape: [4], data_offsets: [0, 4] } });
    const file = await writeRaw("dtype.safetensors", header, 4);
    const error = await readError(file);
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/tensor "model\.norm\.weight": unsupported dtype "F8_E4M3"; supported: F64, F32, F16, BF16, I64, I32/);
  });

  it("rejects a byte range that disagrees with shape and dtype", async () => {
    const file = await writeRaw("size.safetensors", JSON.stringify({ w: f32([2, 3], 0, 20) }), 20);
    const error = await readError(file);
    expect(error.message).toMatch(/tensor "w": data_offsets \[0, 20\] span 20 bytes but F32 shape \[2, 3\] needs 24/);
  });

  it("rejects invalid shapes and offsets", async () => {
    const header = JSON.stringify({
      a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] },
      b: { dtype: "F32", shape: [1], data_offsets: [8, 4] },
    });
    const file = await writeRaw("fields.safetensors", header, 8);
    const error = await readError(file);
    expect(error.message).toMatch(/tensor "a": shape must be a list of non-negative integers, found \[-1\]/);
    expect(error.message).toMatch(/tensor "b": data_offsets must be \[begin, end\] with 0 <= begin <= end, found \[8,4\]/);
  });

  it("rejects a truncated file", async () => {
    const file = path.join(folder, "cut.safetensors");
    await writeSafetensors(file, new Map([["first", Tensor.float32([4], [1, 2, 3, 4])], ["second", Tensor.float32([4], [5, 6, 7, 8])]]));
    const size = (await readFile(file)).length;
    await truncate(file, size - 6);

    const error = await readError(file);
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/tensor "second": data_offsets \[16, 32\] lie beyond the 26-byte data section \(file truncated\?\)/);
  });

  it("rejects overlapping byte ranges, naming both tensors", async () => {
    const file = await writeRaw("overlap.safetensors", JSON.stringify({ a: f32([2], 0, 8), b: f32([2], 4, 12) }), 12);
    const error = await readError(file);
    expect(error.message).toMatch(/tensor "b": data_offsets \[4, 12\] overlap tensor "a" \[0, 8\]/);
  });

  it("rejects a gap and trailing bytes", async () => {
    const file = await writeRaw("gap.safetensors", JSON.stringify({ a: f32([1], 0, 4), b: f32([1], 8, 12) }), 16);
    const error = await readError(file);
    expect(error.message).toMatch(/bytes \[4, 8\) of the data section belong to no tensor \(a gap before tensor "b"\)/);
    expect(error.message).toMatch(/the data section has 16 bytes but the tensors end at byte 12/);
  });

  it("rejects metadata values that are not strings", async () => {
    const header = JSON.stringify({ __metadata__: { format: "pt", step: 3 }, a: f32([1], 0, 4) });
    const file = await writeRaw("metadata.safetensors", header, 4);
    const error = await readError(file);
    expect(error.message).toMatch(/__metadata__\["step"\] must be a string, found 3/);
  });

  it("reports several problems in one error", async () => {
    const header = JSON.stringify({
      a: { dtype: "Q4", shape: [1], data_offsets: [0, 4] },
      b: f32([3], 4, 8),
      c: { dtype: "F16", shape: "2", data_offsets: [8, 12] },
    });
    const file = await writeRaw("many.safetensors", header, 12);
    const error = await readError(file);
    expect(error.message).toMatch(/\(4 problems\)/);
    expect(error.message).toMatch(/tensor "a": unsupported dtype "Q4"/);
    expect(error.message).toMatch(/tensor "b": data_offsets \[4, 8\] span 4 bytes but F32 shape \[3\] needs 12/);
    expect(error.message).toMatch(/tensor "c": shape must be a list of non-negative integers, found "2"/);
    expect(error.message).toMatch(/the data section has 12 bytes but the tensors end at byte 0/);
    expect(error.details.problems).toHaveLength(4);
    expect(error.message).toMatch(/\nhint: /);
  });

  it("checks the header alone without reading data", async () => {
    const file = await writeRaw("header.safetensors", JSON.stringify({ a: f32([2], 0, 8), b: f32([2], 4, 12) }), 12);
    await expect(readSafetensorsHeader(file)).rejects.toThrow(/overlap tensor "a"/);
  });
});
