/**
 * LoRA adapters on the frozen model's projections: y' = y + (alpha / R) · (x @ A) @ B.
 *
 * A [Din, R] starts from N(0, 1/Din) and B [R, Dout] from zeros, so the adapter starts
 * as the identity of the frozen model and its first gradients reach B.
 */

import type { LlamaConfig, ProjectionAdapter, ProjectionSite } from "@lcc/models";
import { type Graph, Tensor, type Value, ops } from "@lcc/tensor";
import type { SeededNormal } from "./random.js";

export type LoraTarget = ProjectionSite["target"];

export interface LoraSpec {
  readonly targets: readonly LoraTarget[];
  readonly rank: number; // R, 8
  readonly alpha: number; // 16
}

/** One adapter's matrices as plain tensors, updated by the optimiser between steps. */
export interface LoraMatrices {
  readonly layer: number;
  readonly target: LoraTarget;
  readonly a: Tensor<"float32">; // [Din, R]
  readonly b: Tensor<"float32">; // [R, Dout]
}

/** Input and output widths of each projection. */
export function projectionShape(config: LlamaConfig, target: LoraTarget): [number, number] {
  const { hiddenSize: D, intermediateSize: F, numHeads: H, numKvHeads: Hkv, headDim: Dh } = config;
  switch (target) {
    case "q":
      return [D, H * Dh];
    case "k":
    case "v":
      return [D, Hkv * Dh];
    case "o":
      return [H * Dh, D];
    case "gate":
    case "up":
      return [D, F];
    case "down":
      return [F, D];
  }
}

export function initLora(config: LlamaConfig, spec: LoraSpec, random: SeededNormal): LoraMatrices[] {
  const adapters: LoraMatrices[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const target of spec.targets) {
      const [din, dout] = projectionShape(config, target);
      const a = new Float32Array(din * spec.rank);
      const std = 1 / Math.sqrt(din);
      for (let i = 0; i < a.length; i++) a[i] = random.normal() * std;
      adapters.push({ layer, target, a: new Tensor("float32", [din, spec.rank], a), b: new Tensor("float32", [spec.rank, dout]) });
    }
  }
  return adapters;
}

export const loraInputName = (layer: number, target: LoraTarget, matrix: "a" | "b") => `lora.${layer}.${target}.${matrix}`;

/** Graph inputs of every adapter, and the projection adapter that applies them. */
export interface LoraInGraph {
  readonly inputs: Value[];
  readonly adapter: ProjectionAdapter;
}

export function addLoraInputs(graph: Graph, config: LlamaConfig, spec: LoraSpec, dtype: "float32" | "float64"): LoraInGraph {
  const matrices = new Map<string, { a: Value; b: Value }>();
  const inputs: Value[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const target of spec.targets) {
      const [din, dout] = projectionShape(config, target);
      const a = graph.input(loraInputName(layer, target, "a"), dtype, [din, spec.rank]); // [Din, R]
      const b = graph.input(loraInputName(layer, target, "b"), dtype, [spec.rank, dout]); // [R, Dout]
      matrices.set(`${layer}.${target}`, { a, b });
      inputs.push(a, b);
    }
  }
  const scale = spec.alpha / spec.rank;
  const adapter: ProjectionAdapter = (site, x, y) => {
    const pair = matrices.get(`${site.layer}.${site.target}`);
    if (pair === undefined) return y;
    const low = ops.matmul(x, pair.a); // [B, T, R]
    return ops.add(y, ops.mul(ops.matmul(low, pair.b), scale)); // [B, T, Dout]
  };
  return { inputs, adapter };
}
