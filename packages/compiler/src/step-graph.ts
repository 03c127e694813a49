/**
 * The compiler's graphs: the encoder pass that writes the memory, and the training step
 * that reads it back through the frozen model and differentiates the loss.
 *
 * Legend: L context tokens (with BOS), K buffer tokens, D width, Hkv key/value heads,
 * Dh head width, N samples of a group, T tokens per sample, V vocabulary, k teacher top-k.
 *
 * Encoder (θ + LoRA): [C; b_1..b_K] at positions 0..L+K-1; the memory M is the keys and
 * values at the K buffer positions. Reader (θ alone unless LoRA is kept at read time):
 * each sample [x; y] at positions L+K.. with [sink; M] as its only past, where the sink is
 * θ's own key/value of the BOS token at position 0.
 */

import { getLoss } from "@lcc/losses";
import { type LlamaConfig, type LoadedModel, type PastKeyValues, addLlamaParameters, embedTokens, llamaForward, llamaLogits } from "@lcc/models";
import { Graph, Tensor, type Value, addGradientOutputs, ops } from "@lcc/tensor";
import { type LoraSpec, addLoraInputs } from "./lora.js";

export type FloatDType = "float32" | "float64";

/** Static shape of one group of reader samples that share a length and a loss. */
export interface GroupShape {
  readonly name: string; // "reconstruction", "regularisation"
  readonly samples: number; // N
  readonly tokens: number; // T
  readonly loss: string; // registered loss name
  readonly weight: number;
  /** A held-out group: its loss is computed for early stopping but gets no gradient. */
  readonly heldOut?: boolean;
  /** Layout of the teacher distributions fed to the graph; null when the loss reads gold tokens only. */
  readonly teacher: { readonly kind: "full" } | { readonly kind: "top-k"; readonly k: number } | null;
}

export interface StepGraphSpec {
  readonly contextTokens: number; // L
  readonly bufferTokens: number; // K
  readonly lora: LoraSpec;
  readonly groups: readonly GroupShape[];
  /** Keep the LoRA on in the reader pass too (an ablation). */
  readonly loraAtReadTime: boolean;
  /** Whether the buffer embeddings get gradients. */
  readonly trainBuffer: boolean;
  readonly dtype: FloatDType;
}

export const STEP_IO = {
  contextIds: "context_ids",
  bufferEmbeddings: "buffer_embeddings",
  sinkKey: (l: number) => `sink_key.${l}`,
  sinkValue: (l: number) => `sink_value.${l}`,
  groupIds: (g: string) => `${g}.ids`,
  groupGold: (g: string) => `${g}.gold_ids`,
  groupMask: (g: string) => `${g}.mask`,
  groupTeacherIds: (g: string) => `${g}.teacher_ids`,
  groupTeacherLogProbabilities: (g: string) => `${g}.teacher_log_probabilities`,
  groupLoss: (g: string) => `loss.${g}`,
  loss: "loss",
  memoryKey: (l: number) => `memory_key.${l}`,
  memoryValue: (l: number) => `memory_value.${l}`,
  gradient: (name: string) => `d${name}`,
} as const;

function positionsConstant(graph: Graph, rows: number, values: readonly number[]): Value {
  const data: number[] = [];
  for (let r = 0; r < rows; r++) data.push(...values);
  return graph.constant(Tensor.int64([rows, values.length], data), "positions");
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

interface EncoderParts {
  readonly graph: Graph;
  readonly config: LlamaConfig;
  readonly memoryKeys: Value[]; // L × [1, Hkv, K, Dh]
  readonly memoryValues: Value[]; // L × [1, Hkv, K, Dh]
  readonly bufferEmbeddings: Value;
  readonly loraInputs: Value[];
  readonly parameters: ReturnType<typeof addLlamaParameters>;
  readonly adapter: ReturnType<typeof addLoraInputs>["adapter"];
}

function buildEncoder(model: LoadedModel, spec: Pick<StepGraphSpec, "contextTokens" | "bufferTokens" | "lora" | "dtype">, name: string): EncoderParts {
  const { config } = model;
  const L = spec.contextTokens;
  const K = spec.bufferTokens;
  const graph = new Graph(name);
  const parameters = addLlamaParameters(graph, model, spec.dtype);
  const lora = addLoraInputs(graph, config, spec.lora, spec.dtype);

  // Encoder input: the context's embeddings followed by the buffer embeddings.
  const contextIds = graph.input(STEP_IO.contextIds, "int64", [1, L]); // [1, L]
  const bufferEmbeddings = graph.input(STEP_IO.bufferEmbeddings, spec.dtype, [1, K, config.hiddenSize]); // [1, K, D]
  const embeddings = ops.concat([embedTokens(parameters, contextIds), bufferEmbeddings], 1); // [1, L+K, D]
  const encoder = llamaForward(parameters, {
    embeddings,
    positions: positionsConstant(graph, 1, range(0, L + K)),
    past: null,
    adapter: lora.adapter,
  });

  // The memory: keys (RoPE applied) and values at the buffer positions.
  const memoryKeys = encoder.keys.map((k) => ops.slice(k, [L], [L + K], [2])); // L × [1, Hkv, K, Dh]
  const memoryValues = encoder.values.map((v) => ops.slice(v, [L], [L + K], [2])); // L × [1, Hkv, K, Dh]
  return { graph, config, memoryKeys, memoryValues, bufferEmbeddings, loraInputs: lora.inputs, parameters, adapter: lora.adapter };
}

/** Builds the encoder pass alone: context and buffer in, memory keys and values out. */
export function buildEncoderGraph(model: LoadedModel, spec: Pick<StepGraphSpec, "contextTokens" | "bufferTokens" | "lora" | "dtype">): Graph {
  const parts = buildEncoder(model, spec, `${model.config.name}-encoder`);
  parts.memoryKeys.forEach((k, l) => {
    parts.graph.output(k, STEP_IO.memoryKey(l));
  });
  parts.memoryValues.forEach((v, l) => {
    parts.graph.output(v, STEP_IO.memoryValue(l));
  });
  return parts.graph;
}

/** Builds the training step: encoder, reader over every sample group, weighted loss and gradients. */
export function buildStepGraph(model: LoadedModel, spec: StepGraphSpec): { graph: Graph; wrt: Value[] } {
  const parts = buildEncoder(model, spec, `${model.config.name}-compile-step`);
  const { graph, config, parameters } = parts;
  const { numKvHeads: Hkv, headDim: Dh, numLayers } = config;
  const L = spec.contextTokens;
  const K = spec.bufferTokens;

  // The reader's past: the frozen BOS key/value at position 0, then the memory.
  const sinkKeys: Value[] = [];
  const sinkValues: Value[] = [];
  for (let l = 0; l < numLayers; l++) {
    sinkKeys.push(graph.input(STEP_IO.sinkKey(l), spec.dtype, [1, Hkv, 1, Dh])); // [1, Hkv, 1, Dh]
    sinkValues.push(graph.input(STEP_IO.sinkValue(l), spec.dtype, [1, Hkv, 1, Dh])); // [1, Hkv, 1, Dh]
  }
  const pastKeys = parts.memoryKeys.map((m, l) => ops.concat([sinkKeys[l] as Value, m], 2)); // L × [1, Hkv, K+1, Dh]
  const pastValues = parts.memoryValues.map((m, l) => ops.concat([sinkValues[l] as Value, m], 2)); // L × [1, Hkv, K+1, Dh]

  // Reader pass and loss per group of samples.
  let total: Value | null = null;
  for (const group of spec.groups) {
    const N = group.samples;
    const T = group.tokens;
    const ids = graph.input(STEP_IO.groupIds(group.name), "int64", [N, T]); // [N, T]
    const goldIds = graph.input(STEP_IO.groupGold(group.name), "int64", [N, T]); // [N, T]
    const mask = graph.input(STEP_IO.groupMask(group.name), spec.dtype, [N, T]); // [N, T]
    const past: PastKeyValues = {
      keys: pastKeys.map((k) => ops.expand(k, [N, 1, 1, 1])), // L × [N, Hkv, K+1, Dh]
      values: pastValues.map((v) => ops.expand(v, [N, 1, 1, 1])), // L × [N, Hkv, K+1, Dh]
      positions: positionsConstant(graph, N, [0, ...range(L, K)]), // [N, K+1]
    };
    const reader = llamaForward(parameters, {
      embeddings: embedTokens(parameters, ids), // [N, T, D]
      positions: positionsConstant(graph, N, range(L + K, T)), // [N, T]
      past,
      adapter: spec.loraAtReadTime ? parts.adapter : undefined,
    });
    const logits = llamaLogits(parameters, reader.hidden); // [N, T, V]

    let teacher = null;
    if (group.teacher !== null) {
      const width = group.teacher.kind === "full" ? config.vocabSize : group.teacher.k;
      const logProbabilities = graph.input(STEP_IO.groupTeacherLogProbabilities(group.name), spec.dtype, [N, T, width]); // [N, T, V|k]
      teacher =
        group.teacher.kind === "full"
          ? { kind: "full" as const, logProbabilities }
          : { kind: "top-k" as const, logProbabilities, ids: graph.input(STEP_IO.groupTeacherIds(group.name), "int64", [N, T, width]) };
    }
    const loss = getLoss(group.loss).build({ logits, goldIds, mask, teacher }); // [1]
    graph.output(loss, STEP_IO.groupLoss(group.name));
    if (group.heldOut === true) continue;
    const weighted = ops.mul(loss, group.weight); // [1]
    total = total === null ? weighted : ops.add(total, weighted);
  }
  if (total === null) throw new Error("a compile step needs at least one sample group");

  // Gradients of the weighted loss with respect to the trainable inputs.
  const wrt = spec.trainBuffer ? [parts.bufferEmbeddings, ...parts.loraInputs] : [...parts.loraInputs];
  const lossOutput = graph.output(total, STEP_IO.loss); // [1]
  addGradientOutputs(
    graph,
    lossOutput,
    wrt,
    wrt.map((w) => STEP_IO.gradient(w.name)),
  );
  return { graph, wrt };
}
