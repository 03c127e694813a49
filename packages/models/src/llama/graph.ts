/**
 * The Llama-family forward pass as an ONNX graph: RMSNorm, RoPE, grouped-query
 * attention and SwiGLU, one definition for prefill, decode and the compiler's graphs.
 *
 * Legend: B batch, T new tokens, P past tokens, S = P + T keys, D model width,
 * H query heads, Hkv key/value heads, G = H / Hkv, Dh head width, F MLP width, V vocabulary.
 *
 * Positions are an input, and the causal mask compares key positions with query
 * positions instead of indices, so a prefix (a memory) compiled at any positions can sit
 * before the prompt.
 */

import { type Graph, InvalidArgumentError, Tensor, type Value, castTensor, ops } from "@lcc/tensor";
import type { LlamaConfig, LoadedModel } from "../config.js";
import { ropeInverseFrequencies } from "./rope.js";

export type FloatDType = "float32" | "float64";

/** A linear projection site that an adapter (such as LoRA) can wrap. */
export interface ProjectionSite {
  readonly layer: number;
  readonly target: "q" | "k" | "v" | "o" | "gate" | "up" | "down";
}

/** Returns the adapted output of a projection given its input and frozen output. */
export type ProjectionAdapter = (site: ProjectionSite, x: Value, y: Value) => Value;

/** The model's weights as graph initializers, ready to be shared by several passes. */
export interface LlamaParameters {
  readonly config: LlamaConfig;
  readonly dtype: FloatDType;
  readonly embedTokens: Value; // [V, D]
  readonly lmHead: Value; // [D, V]
  readonly finalNorm: Value; // [D]
  readonly layers: readonly LayerParameters[];
  readonly inverseFrequencies: Value; // [Dh/2]
}

interface LayerParameters {
  readonly inputNorm: Value; // [D]
  readonly q: Value; // [D, H*Dh]
  readonly k: Value; // [D, Hkv*Dh]
  readonly v: Value; // [D, Hkv*Dh]
  readonly o: Value; // [H*Dh, D]
  readonly qBias: Value | null; // [H*Dh]
  readonly kBias: Value | null; // [Hkv*Dh]
  readonly vBias: Value | null; // [Hkv*Dh]
  readonly postNorm: Value; // [D]
  readonly gate: Value; // [D, F]
  readonly up: Value; // [D, F]
  readonly down: Value; // [F, D]
}

/** Converts a weight to `dtype` (float16 and bfloat16 widen exactly). */
function toDType(tensor: Tensor, dtype: FloatDType): Tensor {
  return tensor.dtype === dtype ? tensor : castTensor(tensor, dtype);
}

/** Transposes a 2-D weight [out, in] into [in, out] so that the graph computes x @ W^T as one MatMul. */
function transpose2d(tensor: Tensor, dtype: FloatDType): Tensor {
  const source = toDType(tensor, dtype);
  const [rows, cols] = source.shape as [number, number];
  const data = dtype === "float32" ? new Float32Array(rows * cols) : new Float64Array(rows * cols);
  const input = source.data as Float32Array | Float64Array;
  for (let r = 0; r < rows; r++) {
    const offset = r * cols;
    for (let c = 0; c < cols; c++) data[c * rows + r] = input[offset + c] as number;
  }
  return new Tensor(dtype, [cols, rows], data as never);
}

/** Adds the model's weights to `graph` as initializers named after the Hugging Face parameters. */
export function addLlamaParameters(graph: Graph, model: LoadedModel, dtype: FloatDType = "float32"): LlamaParameters {
  const { config, weights } = model;
  const weight = (name: string): Tensor => {
    const tensor = weights.get(name);
    if (tensor === undefined) throw new InvalidArgumentError(`model ${config.name} has no weight "${name}"`);
    return tensor;
  };
  const plain = (name: string) => graph.initializer(name, toDType(weight(name), dtype));
  const transposed = (name: string) => graph.initializer(`${name}.T`, transpose2d(weight(name), dtype));

  const layers: LayerParameters[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    layers.push({
      inputNorm: plain(`${p}.input_layernorm.weight`),
      q: transposed(`${p}.self_attn.q_proj.weight`),
      k: transposed(`${p}.self_attn.k_proj.weight`),
      v: transposed(`${p}.self_attn.v_proj.weight`),
      o: transposed(`${p}.self_attn.o_proj.weight`),
      qBias: config.attentionBias ? plain(`${p}.self_attn.q_proj.bias`) : null,
      kBias: config.attentionBias ? plain(`${p}.self_attn.k_proj.bias`) : null,
      vBias: config.attentionBias ? plain(`${p}.self_attn.v_proj.bias`) : null,
      postNorm: plain(`${p}.post_attention_layernorm.weight`),
      gate: transposed(`${p}.mlp.gate_proj.weight`),
      up: transposed(`${p}.mlp.up_proj.weight`),
      down: transposed(`${p}.mlp.down_proj.weight`),
    });
  }
  const inverse = ropeInverseFrequencies(config);
  return {
    config,
    dtype,
    embedTokens: plain("model.embed_tokens.weight"),
    lmHead: config.tieWordEmbeddings ? transposed("model.embed_tokens.weight") : transposed("lm_head.weight"),
    finalNorm: plain("model.norm.weight"),
    layers,
    inverseFrequencies: graph.constant(dtype === "float32" ? Tensor.float32([inverse.length], inverse) : Tensor.float64([inverse.length], inverse), "rope_inv_freq"),
  };
}

/** Past keys and values every layer attends to before the new tokens. */
export interface PastKeyValues {
  readonly keys: readonly Value[]; // L × [B, Hkv, P, Dh], RoPE applied
  readonly values: readonly Value[]; // L × [B, Hkv, P, Dh]
  readonly positions: Value; // [B, P] int64
}

export interface ForwardInputs {
  /** Token embeddings of the new tokens. */
  readonly embeddings: Value; // [B, T, D]
  readonly positions: Value; // [B, T] int64
  readonly past: PastKeyValues | null;
  readonly adapter?: ProjectionAdapter;
}

export interface ForwardOutputs {
  /** Final hidden states after the last layer, before the final norm. */
  readonly hidden: Value; // [B, T, D]
  /** Keys and values of past and new tokens, per layer. */
  readonly keys: readonly Value[]; // L × [B, Hkv, S, Dh]
  readonly values: readonly Value[]; // L × [B, Hkv, S, Dh]
}

/** rms_norm(x) = x / sqrt(mean(x^2) + eps) * w */
export function rmsNorm(x: Value, weight: Value, eps: number): Value {
  const meanSquare = ops.reduceMean(ops.mul(x, x), [-1]); // [..., 1]
  const inverse = ops.reciprocal(ops.sqrt(ops.add(meanSquare, eps))); // [..., 1]
  return ops.mul(ops.mul(x, inverse), weight); // [..., D]
}

/** rotate_half(x) = concat(-x2, x1) over the last axis, with x1 and x2 its halves. */
function rotateHalf(x: Value, headDim: number): Value {
  const half = headDim / 2;
  const [x1, x2] = ops.split(x, [half, half], -1) as [Value, Value];
  return ops.concat([ops.neg(x2), x1], -1);
}

/** Embeds token ids: [B, T] int64 -> [B, T, D]. */
export function embedTokens(parameters: LlamaParameters, ids: Value): Value {
  return ops.gather(parameters.embedTokens, ids, 0); // [B, T, D]
}

/** Runs every decoder layer over the new tokens. */
export function llamaForward(parameters: LlamaParameters, inputs: ForwardInputs): ForwardOutputs {
  const { config } = parameters;
  const { numHeads: H, numKvHeads: Hkv, headDim: Dh, rmsNormEps: eps } = config;
  const G = H / Hkv;
  const g = inputs.embeddings.graph;
  const adapt = (site: ProjectionSite, x: Value, y: Value) => (inputs.adapter ? inputs.adapter(site, x, y) : y);
  const dtype = parameters.dtype;

  // RoPE tables from positions: angle = position * inverse frequency, repeated for both halves.
  const positions = ops.cast(inputs.positions, dtype); // [B, T]
  const angles = ops.mul(ops.unsqueeze(positions, [2]), parameters.inverseFrequencies); // [B, T, Dh/2]
  const anglesFull = ops.concat([angles, angles], -1); // [B, T, Dh]
  const cos = ops.unsqueeze(ops.cos(anglesFull), [1, 2]); // [B, 1, 1, T, Dh]
  const sin = ops.unsqueeze(ops.sin(anglesFull), [1, 2]); // [B, 1, 1, T, Dh]
  const cosK = ops.squeeze(cos, [2]); // [B, 1, T, Dh]
  const sinK = ops.squeeze(sin, [2]); // [B, 1, T, Dh]

  // Causal mask by position: a query attends to the keys whose position is not after its own.
  const keyPositions = inputs.past === null ? inputs.positions : ops.concat([inputs.past.positions, inputs.positions], 1); // [B, S]
  const visible = ops.lessOrEqual(ops.unsqueeze(keyPositions, [1, 2, 3]), ops.unsqueeze(inputs.positions, [1, 2, 4])); // [B, 1, 1, T, S]
  const mask = ops.where(visible, g.scalar(0, dtype), g.scalar(dtype === "float32" ? -3.0e38 : -1.0e300, dtype)); // [B, 1, 1, T, S]
  const scale = 1 / Math.sqrt(Dh);

  let x = inputs.embeddings; // [B, T, D]
  const keys: Value[] = [];
  const values: Value[] = [];
  parameters.layers.forEach((layer, l) => {
    // Attention projections.
    const h = rmsNorm(x, layer.inputNorm, eps); // [B, T, D]
    let q = adapt({ layer: l, target: "q" }, h, ops.matmul(h, layer.q)); // [B, T, H*Dh]
    let k = adapt({ layer: l, target: "k" }, h, ops.matmul(h, layer.k)); // [B, T, Hkv*Dh]
    let v = adapt({ layer: l, target: "v" }, h, ops.matmul(h, layer.v)); // [B, T, Hkv*Dh]
    if (layer.qBias) q = ops.add(q, layer.qBias);
    if (layer.kBias) k = ops.add(k, layer.kBias);
    if (layer.vBias) v = ops.add(v, layer.vBias);

    // Heads: queries grouped by the key/value head they share.
    const qh = ops.transpose(ops.reshape(q, [0, 0, Hkv, G, Dh]), [0, 2, 3, 1, 4]); // [B, Hkv, G, T, Dh]
    const kh = ops.transpose(ops.reshape(k, [0, 0, Hkv, Dh]), [0, 2, 1, 3]); // [B, Hkv, T, Dh]
    const vh = ops.transpose(ops.reshape(v, [0, 0, Hkv, Dh]), [0, 2, 1, 3]); // [B, Hkv, T, Dh]

    // RoPE: x * cos + rotate_half(x) * sin.
    const qr = ops.add(ops.mul(qh, cos), ops.mul(rotateHalf(qh, Dh), sin)); // [B, Hkv, G, T, Dh]
    const kr = ops.add(ops.mul(kh, cosK), ops.mul(rotateHalf(kh, Dh), sinK)); // [B, Hkv, T, Dh]

    // Append to the past.
    const kAll = inputs.past === null ? kr : ops.concat([inputs.past.keys[l] as Value, kr], 2); // [B, Hkv, S, Dh]
    const vAll = inputs.past === null ? vh : ops.concat([inputs.past.values[l] as Value, vh], 2); // [B, Hkv, S, Dh]
    keys.push(kAll);
    values.push(vAll);

    // Scaled dot-product attention: [B,Hkv,G,T,Dh] @ [B,Hkv,1,Dh,S] -> [B,Hkv,G,T,S].
    const kT = ops.unsqueeze(ops.transpose(kAll, [0, 1, 3, 2]), [2]); // [B, Hkv, 1, Dh, S]
    const scores = ops.add(ops.mul(ops.matmul(qr, kT), scale), mask); // [B, Hkv, G, T, S]
    const probabilities = ops.softmax(scores, -1); // [B, Hkv, G, T, S]
    const attended = ops.matmul(probabilities, ops.unsqueeze(vAll, [2])); // [B, Hkv, G, T, Dh]
    const merged = ops.reshape(ops.transpose(attended, [0, 3, 1, 2, 4]), [0, 0, H * Dh]); // [B, T, H*Dh]
    const o = adapt({ layer: l, target: "o" }, merged, ops.matmul(merged, layer.o)); // [B, T, D]
    x = ops.add(x, o); // [B, T, D]

    // SwiGLU MLP: down(silu(gate(h)) * up(h)), silu(z) = z * sigmoid(z).
    const h2 = rmsNorm(x, layer.postNorm, eps); // [B, T, D]
    const gate = adapt({ layer: l, target: "gate" }, h2, ops.matmul(h2, layer.gate)); // [B, T, F]
    const up = adapt({ layer: l, target: "up" }, h2, ops.matmul(h2, layer.up)); // [B, T, F]
    const activated = ops.mul(ops.mul(gate, ops.sigmoid(gate)), up); // [B, T, F]
    const down = adapt({ layer: l, target: "down" }, activated, ops.matmul(activated, layer.down)); // [B, T, D]
    x = ops.add(x, down); // [B, T, D]
  });
  return { hidden: x, keys, values };
}

/** Final norm and the language-model head: [B, T, D] -> [B, T, V]. */
export function llamaLogits(parameters: LlamaParameters, hidden: Value): Value {
  const normed = rmsNorm(hidden, parameters.finalNorm, parameters.config.rmsNormEps); // [B, T, D]
  return ops.matmul(normed, parameters.lmHead); // [B, T, V]
}
