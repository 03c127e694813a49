/**
 * Serialisation of a builder graph to an ONNX ModelProto.
 *
 * Small models are written as one protobuf. A protobuf message cannot exceed 2 GiB,
 * so larger initializers go to an external-data file beside the model, described by
 * `location`, `offset` and `length` entries as the ONNX external-data spec requires.
 */

import { createHash } from "node:crypto";
import { ONNX_DTYPE } from "../dtype.js";
import { GraphError } from "../errors.js";
import type { Attribute, Graph, Value } from "../graph.js";
import type { Tensor } from "../tensor.js";
import { IR_VERSION, OPSET_VERSION, onnxTypes } from "./proto.js";

export interface SerializeOptions {
  /**
   * Store initializers of at least `minBytes` bytes in an external-data file named
   * `fileName` (relative to the model file) instead of inside the protobuf.
   */
  readonly externalData?: { readonly fileName: string; readonly minBytes?: number };
  readonly producerVersion?: string;
}

export interface SerializedModel {
  /** The ModelProto bytes. */
  readonly model: Uint8Array;
  /** Chunks of the external-data file in order, empty when none is used. */
  readonly externalChunks: readonly Uint8Array[];
  readonly externalFileName: string | undefined;
  /** sha256 over the model bytes and the external data: the graph's content hash. */
  readonly contentHash: string;
}

const ALIGNMENT = 64;

function tensorBytes(tensor: Tensor): Uint8Array {
  const data = tensor.data;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function encodeAttribute(name: string, attribute: Attribute): Record<string, unknown> {
  switch (attribute.kind) {
    case "int":
      return { name, type: 2, i: attribute.value };
    case "float":
      return { name, type: 1, f: attribute.value };
    case "string":
      return { name, type: 3, s: Buffer.from(attribute.value, "utf8") };
    case "ints":
      return { name, type: 7, ints: [...attribute.value] };
    case "floats":
      return { name, type: 6, floats: [...attribute.value] };
    case "tensor":
      return { name, type: 4, t: { dims: [...attribute.value.shape], data_type: ONNX_DTYPE[attribute.value.dtype], raw_data: tensorBytes(attribute.value) } };
  }
}

function valueInfo(value: Value): Record<string, unknown> {
  return {
    name: value.name,
    type: {
      tensor_type: {
        elem_type: ONNX_DTYPE[value.dtype],
        shape: { dim: value.shape.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** Encodes `graph` as an ONNX model, with weights inline or in external data. */
export function serializeModel(graph: Graph, options: SerializeOptions = {}): SerializedModel {
  if (graph.outputs.length === 0) throw new GraphError(`graph "${graph.name}" has no outputs; mark at least one with graph.output()`);
  const hash = createHash("sha256");
  const externalChunks: Uint8Array[] = [];
  let externalOffset = 0;
  const minBytes = options.externalData?.minBytes ?? 1024;

  // Initializers: inline raw_data, or a reference into the external-data file.
  const initializers = graph.initializers.map((value) => {
    const tensor = value.constant as Tensor;
    const bytes = tensorBytes(tensor);
    const base = { name: value.name, dims: [...tensor.shape], data_type: ONNX_DTYPE[tensor.dtype] };
    if (options.externalData === undefined || bytes.byteLength < minBytes) return { ...base, raw_data: bytes };
    const padding = (ALIGNMENT - (externalOffset % ALIGNMENT)) % ALIGNMENT;
    if (padding > 0) externalChunks.push(new Uint8Array(padding));
    externalOffset += padding;
    externalChunks.push(bytes);
    hash.update(bytes);
    const entry = {
      ...base,
      data_location: 1,
      external_data: [
        { key: "location", value: options.externalData.fileName },
        { key: "offset", value: String(externalOffset) },
        { key: "length", value: String(bytes.byteLength) },
      ],
    };
    externalOffset += bytes.byteLength;
    return entry;
  });

  const nodes = graph.nodes.map((node) => ({
    name: node.name,
    op_type: node.op.opType,
    domain: node.op.domain ?? "",
    input: node.inputs.map((v) => (v === null ? "" : v.name)),
    output: node.outputs.map((v) => v.name),
    attribute: Object.entries(node.attributes).map(([name, a]) => encodeAttribute(name, a)),
  }));

  const { ModelProto } = onnxTypes();
  const message = ModelProto.fromObject({
    ir_version: IR_VERSION,
    opset_import: [{ domain: "", version: OPSET_VERSION }],
    producer_name: "lcc",
    producer_version: options.producerVersion ?? "0",
    graph: {
      name: graph.name,
      node: nodes,
      initializer: initializers,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
  });
  const model = ModelProto.encode(message).finish();
  hash.update(model);
  return {
    model,
    externalChunks,
    externalFileName: externalChunks.length > 0 ? options.externalData?.fileName : undefined,
    contentHash: hash.digest("hex"),
  };
}

/** Decodes a ModelProto into a plain object (for tests and inspection). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const { ModelProto } = onnxTypes();
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Buffer, defaults: false }) as Record<string, unknown>;
}
