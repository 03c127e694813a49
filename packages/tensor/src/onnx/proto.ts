/**
 * protobufjs types for the ONNX messages in `schema.ts`, parsed once on first use.
 */

import protobuf from "protobufjs";
import { ONNX_PROTO_SOURCE } from "./schema.js";

export interface OnnxTypes {
  ModelProto: protobuf.Type;
  TensorProto: protobuf.Type;
  GraphProto: protobuf.Type;
}

let cached: OnnxTypes | undefined;

export function onnxTypes(): OnnxTypes {
  if (cached === undefined) {
    const root = protobuf.parse(ONNX_PROTO_SOURCE, { keepCase: true }).root;
    cached = {
      ModelProto: root.lookupType("onnx.ModelProto"),
      TensorProto: root.lookupType("onnx.TensorProto"),
      GraphProto: root.lookupType("onnx.GraphProto"),
    };
  }
  return cached;
}

/** ONNX IR version written into every model (IR 10 is read by onnxruntime 1.17 and later). */
export const IR_VERSION = 10;

/** The default-domain opset every graph is built against. */
export const OPSET_VERSION = 21;
