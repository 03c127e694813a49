/**
 * The model description every loader produces and every graph builder reads.
 *
 * Weights use Hugging Face parameter names and layouts (query and key rows in the
 * "rotate half" RoPE order), whatever the file format they came from.
 */

import type { Tensor } from "@lcc/tensor";

export type Architecture = "llama" | "mistral" | "qwen2";

export type RopeScaling =
  | {
      readonly type: "llama3";
      readonly factor: number; // 8
      readonly lowFreqFactor: number; // 1
      readonly highFreqFactor: number; // 4
      readonly originalMaxPositions: number; // 8192
    }
  | { readonly type: "linear"; readonly factor: number };

export interface LlamaConfig {
  readonly architecture: Architecture;
  /** Readable name, e.g. "stories260K" or "HuggingFaceTB/SmolLM2-135M". */
  readonly name: string;
  readonly vocabSize: number; // V, 512
  readonly hiddenSize: number; // D, 64
  readonly intermediateSize: number; // F, 172
  readonly numLayers: number; // L, 5
  readonly numHeads: number; // H, 8
  readonly numKvHeads: number; // Hkv, 4
  readonly headDim: number; // Dh, 8
  readonly maxPositions: number; // 512
  readonly ropeTheta: number; // 10000
  readonly ropeScaling: RopeScaling | null;
  readonly rmsNormEps: number; // 1e-5
  /** Biases on the q, k and v projections (Qwen2). */
  readonly attentionBias: boolean;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number; // 1
  readonly eosTokenIds: readonly number[]; // [2]
}

/** Hugging Face parameter name → tensor ([out, in] for projections). */
export type WeightMap = ReadonlyMap<string, Tensor>;

export interface LoadedModel {
  readonly config: LlamaConfig;
  readonly weights: WeightMap;
}

/** Names and shapes of every weight a config requires, in a stable order. */
export function expectedWeightShapes(config: LlamaConfig): Map<string, number[]> {
  const { vocabSize: V, hiddenSize: D, intermediateSize: F, numHeads: H, numKvHeads: Hkv, headDim: Dh } = config;
  const shapes = new Map<string, number[]>();
  shapes.set("model.embed_tokens.weight", [V, D]);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    shapes.set(`${p}.input_layernorm.weight`, [D]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [H * Dh, D]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [Hkv * Dh, D]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [Hkv * Dh, D]);
    if (config.attentionBias) {
      shapes.set(`${p}.self_attn.q_proj.bias`, [H * Dh]);
      shapes.set(`${p}.self_attn.k_proj.bias`, [Hkv * Dh]);
      shapes.set(`${p}.self_attn.v_proj.bias`, [Hkv * Dh]);
    }
    shapes.set(`${p}.self_attn.o_proj.weight`, [D, H * Dh]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [D]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [F, D]);
    shapes.set(`${p}.mlp.up_proj.weight`, [F, D]);
    shapes.set(`${p}.mlp.down_proj.weight`, [D, F]);
  }
  shapes.set("model.norm.weight", [D]);
  if (!config.tieWordEmbeddings) shapes.set("lm_head.weight", [V, D]);
  return shapes;
}
