/**
 * Prefill and decode graphs built from the one forward definition in `graph.ts`.
 *
 * Prefill: input_ids [B, T], position_ids [B, T] -> logits, present_key.l, present_value.l.
 * Decode: the same plus past_key.l / past_value.l [B, Hkv, P, Dh] and past_position_ids [B, P].
 */

import { Graph, type Value, ops } from "@lcc/tensor";
import type { LoadedModel } from "../config.js";
import { type FloatDType, type LlamaParameters, addLlamaParameters, embedTokens, llamaForward, llamaLogits } from "./graph.js";

export interface InferenceGraphOptions {
  /** "prefill" has no past inputs; "decode" reads past keys and values. */
  readonly mode: "prefill" | "decode";
  /** "all" returns logits for every new token, "last" only for the final one. Default "last". */
  readonly logits?: "all" | "last";
  readonly dtype?: FloatDType;
}

/** Names of the graph inputs and outputs, shared by the runner. */
export const IO = {
  inputIds: "input_ids",
  positionIds: "position_ids",
  pastPositionIds: "past_position_ids",
  pastKey: (layer: number) => `past_key.${layer}`,
  pastValue: (layer: number) => `past_value.${layer}`,
  logits: "logits",
  presentKey: (layer: number) => `present_key.${layer}`,
  presentValue: (layer: number) => `present_value.${layer}`,
} as const;

export function buildInferenceGraph(model: LoadedModel, options: InferenceGraphOptions): Graph {
  const { config } = model;
  const dtype = options.dtype ?? "float32";
  const graph = new Graph(`${config.name}-${options.mode}`);
  const parameters: LlamaParameters = addLlamaParameters(graph, model, dtype);

  const ids = graph.input(IO.inputIds, "int64", ["B", "T"]); // [B, T]
  const positions = graph.input(IO.positionIds, "int64", ["B", "T"]); // [B, T]
  let past = null;
  if (options.mode === "decode") {
    const kvShape = ["B", config.numKvHeads, "P", config.headDim];
    const keys: Value[] = [];
    const values: Value[] = [];
    for (let l = 0; l < config.numLayers; l++) {
      keys.push(graph.input(IO.pastKey(l), dtype, kvShape)); // [B, Hkv, P, Dh]
      values.push(graph.input(IO.pastValue(l), dtype, kvShape)); // [B, Hkv, P, Dh]
    }
    past = { keys, values, positions: graph.input(IO.pastPositionIds, "int64", ["B", "P"]) };
  }

  const forward = llamaForward(parameters, { embeddings: embedTokens(parameters, ids), positions, past });
  const hidden = options.logits === "all" ? forward.hidden : ops.slice(forward.hidden, [-1], [Number.MAX_SAFE_INTEGER], [1]); // [B, T|1, D]
  graph.output(llamaLogits(parameters, hidden), IO.logits); // [B, T|1, V]
  for (let l = 0; l < config.numLayers; l++) {
    graph.output(forward.keys[l] as Value, IO.presentKey(l)); // [B, Hkv, S, Dh]
    graph.output(forward.values[l] as Value, IO.presentValue(l)); // [B, Hkv, S, Dh]
  }
  return graph;
}
