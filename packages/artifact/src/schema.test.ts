import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";

import {
  TAG_KV_TENSOR_ALIGNMENT,
  TAG_KV_TENSOR_DATA,
  TAG_LAYER_KEYS,
  TAG_LAYER_VALUES,
  TAG_MEMORY_FILE_CHECKSUM,
  TAG_MEMORY_FILE_LAYERS,
  memoryTypes,
  varintSize,
  writeVarint,
} from "./proto.js";
import { MEMORY_PROTO_SOURCE } from "./schema.js";

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Field name → number of a message, to pin the wire numbers of format 1.0. */
function fieldNumbers(typeName: string): Record<string, number> {
  const type = protobuf.parse(MEMORY_PROTO_SOURCE, { keepCase: true }).root.lookupType(`lcc.memory.v1.${typeName}`);
  return Object.fromEntries(Object.values(type.fields).map((field) => [field.name, field.id]));
}

describe("memory.proto", () => {
  it("source is the package's memory.proto", () => {
    const file = readFileSync(path.join(packageRoot, "memory.proto"), "utf8");
    expect(MEMORY_PROTO_SOURCE).toBe(file);
    expect(MEMORY_PROTO_SOURCE).toContain("package lcc.memory.v1;");
  });

  it("field numbers of format 1.0", () => {
    expect(fieldNumbers("MemoryFile")).toEqual({
      format_version: 1,
      producer: 2,
      model: 3,
      compression: 4,
      positions: 5,
      provenance: 6,
      source: 7,
      created_at: 8,
      layers: 10,
      checksum: 15,
    });
    expect(fieldNumbers("ModelFingerprint")).toEqual({
      name: 1,
      architecture: 2,
      config_sha256: 3,
      weights_sha256: 4,
      tokenizer_sha256: 5,
      num_layers: 6,
      num_kv_heads: 7,
      head_dim: 8,
    });
    expect(fieldNumbers("Compression")).toEqual({ source_tokens: 1, buffer_tokens: 2, ratio: 3, segments: 4 });
    expect(fieldNumbers("Segment")).toEqual({ source_start: 1, source_end: 2, buffer_start: 3, buffer_end: 4 });
    expect(fieldNumbers("Layer")).toEqual({ keys: 1, values: 2 });
    expect(fieldNumbers("KvTensor")).toEqual({ dtype: 1, shape: 2, scales: 3, alignment: 4, data: 5 });
    expect(fieldNumbers("Provenance")).toEqual({ options_json: 1, steps: 2, final_losses: 3, wall_time_seconds: 4 });
    expect(fieldNumbers("Source")).toEqual({ sha256: 1, text: 2 });
  });

  it("dtype enum values", () => {
    const dtype = protobuf.parse(MEMORY_PROTO_SOURCE, { keepCase: true }).root.lookupEnum("lcc.memory.v1.DType");
    expect(dtype.values).toEqual({ DTYPE_UNSPECIFIED: 0, DTYPE_FLOAT32: 1, DTYPE_FLOAT16: 2, DTYPE_BFLOAT16: 3, DTYPE_INT8: 4 });
  });

  it("hand-written tags match protobufjs", () => {
    // protobufjs writes a length-delimited field as its tag then the length: compare the first byte.
    const { MemoryFile, KvTensor } = memoryTypes();
    const one = new Uint8Array([7]);
    expect(MemoryFile.encode({ checksum: one }).finish()[0]).toBe(TAG_MEMORY_FILE_CHECKSUM);
    expect(MemoryFile.encode({ layers: [{}] }).finish()[0]).toBe(TAG_MEMORY_FILE_LAYERS);
    expect(KvTensor.encode({ alignment: one }).finish()[0]).toBe(TAG_KV_TENSOR_ALIGNMENT);
    expect(KvTensor.encode({ data: one }).finish()[0]).toBe(TAG_KV_TENSOR_DATA);
    const layer = memoryTypes()
      .MemoryFile.encode({ layers: [{ keys: {}, values: {} }] })
      .finish();
    expect(layer[2]).toBe(TAG_LAYER_KEYS);
    expect(layer[4]).toBe(TAG_LAYER_VALUES);
    expect(TAG_MEMORY_FILE_CHECKSUM).toBe(0x7a);
  });

  it("varints match protobufjs", () => {
    for (const value of [0, 1, 127, 128, 300, 16_383, 16_384, 2_097_151, 2_097_152, 4_294_967_295]) {
      const reference = protobuf.Writer.create().uint32(value).finish();
      const ours = new Uint8Array(10);
      const end = writeVarint(ours, 0, value);
      expect(varintSize(value), `size of ${value}`).toBe(reference.length);
      expect(Array.from(ours.subarray(0, end)), `bytes of ${value}`).toEqual(Array.from(reference));
    }
  });
});
