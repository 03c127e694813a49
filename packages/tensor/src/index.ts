/**
 * @lcc/tensor: tensors and dtypes, the ONNX graph builder and the onnxruntime-node
 * session layer. It is the only lcc package that imports onnxruntime-node.
 */

export * from "./errors.js";
export * from "./dtype.js";
export * from "./tensor.js";
export * from "./half.js";
export * from "./graph.js";
export * as ops from "./ops/index.js";
export { serializeModel, decodeModel, type SerializeOptions, type SerializedModel } from "./onnx/serialize.js";
export { IR_VERSION, OPSET_VERSION } from "./onnx/proto.js";
export * from "./runtime/session.js";
export { grad, addGradientOutputs, type GradOptions, type GradientOutputs } from "./grad.js";
