/**
 * End-to-end check of the loaded weights: a plain float64 Llama forward pass written in the
 * Hugging Face convention (rotate-half RoPE, q/k/v/o, gate/up/down) must reproduce the
 * greedy tokens and logits that an independent NumPy port of llama2.c produced.
 *
 * Legend: D model width, F feed-forward width, H query heads, Hkv key/value heads,
 * Dh head width, V vocabulary, T positions so far.
 */

import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import type { LoadedModel } from "../config.js";
import { sharedPath } from "../test/shared.js";
import { loadLlama2cCheckpoint } from "./checkpoint.js";

const GOLDEN = JSON.parse(readFileSync(sharedPath("cases", "stories260K-golden.json"), "utf8")) as {
  greedy_from_BOS_first32: number[];
  pos0_BOS_logits_top5: [number, number, string][];
};

function matVec(w: Float32Array, x: Float64Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows); // [rows] = [rows, cols] @ [cols]
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += (w[r * cols + c] as number) * (x[c] as number);
    y[r] = sum;
  }
  return y;
}

function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let squares = 0;
  for (const value of x) squares += value * value;
  const scale = 1 / Math.sqrt(squares / x.length + eps);
  return x.map((value, i) => value * scale * (weight[i] as number));
}

/** Rotate-half RoPE on every head of `v` [heads*Dh] at position `pos`. */
function rope(v: Float64Array, heads: number, headDim: number, pos: number, theta: number): void {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const angle = pos * theta ** (-(2 * i) / headDim);
      const a = v[h * headDim + i] as number;
      const b = v[h * headDim + i + half] as number;
      v[h * headDim + i] = a * Math.cos(angle) - b * Math.sin(angle);
      v[h * headDim + i + half] = a * Math.sin(angle) + b * Math.cos(angle);
    }
  }
}

/** Runs one token through the model and returns its logits [V]. Appends its keys and values to the caches. */
function forward(model: LoadedModel, token: number, pos: number, keys: Float64Array[][], values: Float64Array[][]): Float64Array {
  const { config, weights } = model;
  const { hiddenSize: D, intermediateSize: F, numHeads: H, numKvHeads: Hkv, headDim: Dh, vocabSize: V } = config;
  const w = (name: string): Float32Array => weights.get(name)?.data as Float32Array;

  let x = Float64Array.from(w("model.embed_tokens.weight").subarray(token * D, (token + 1) * D)); // [D]
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;

    // Attention: q [H*Dh], k and v [Hkv*Dh], scores over positions 0..pos.
    const xn = rmsNorm(x, w(`${p}.input_layernorm.weight`), config.rmsNormEps);
    const q = matVec(w(`${p}.self_attn.q_proj.weight`), xn, H * Dh, D);
    const k = matVec(w(`${p}.self_attn.k_proj.weight`), xn, Hkv * Dh, D);
    const v = matVec(w(`${p}.self_attn.v_proj.weight`), xn, Hkv * Dh, D);
    rope(q, H, Dh, pos, config.ropeTheta);
    rope(k, Hkv, Dh, pos, config.ropeTheta);
    (keys[l] as Float64Array[]).push(k);
    (values[l] as Float64Array[]).push(v);
    const attended = new Float64Array(H * Dh); // [H*Dh]
    for (let h = 0; h < H; h++) {
      const kvHead = Math.floor(h / (H / Hkv));
      const scores = (keys[l] as Float64Array[]).map((cached) => {
        let dot = 0;
        for (let i = 0; i < Dh; i++) dot += (q[h * Dh + i] as number) * (cached[kvHead * Dh + i] as number);
        return dot / Math.sqrt(Dh);
      }); // [T]
      const max = Math.max(...scores);
      const exps = scores.map((score) => Math.exp(score - max));
      const total = exps.reduce((a, b) => a + b, 0);
      (values[l] as Float64Array[]).forEach((cached, t) => {
        for (let i = 0; i < Dh; i++) attended[h * Dh + i] = (attended[h * Dh + i] as number) + ((exps[t] as number) / total) * (cached[kvHead * Dh + i] as number);
      });
    }
    const attentionOut = matVec(w(`${p}.self_attn.o_proj.weight`), attended, D, H * Dh); // [D]
    x = x.map((value, i) => value + (attentionOut[i] as number));

    // Feed-forward: down(silu(gate(x)) * up(x)), silu(z) = z * sigmoid(z).
    const hn = rmsNorm(x, w(`${p}.post_attention_layernorm.weight`), config.rmsNormEps);
    const gate = matVec(w(`${p}.mlp.gate_proj.weight`), hn, F, D); // [F]
    const up = matVec(w(`${p}.mlp.up_proj.weight`), hn, F, D); // [F]
    const hidden = gate.map((g, i) => (g / (1 + Math.exp(-g))) * (up[i] as number));
    const ffnOut = matVec(w(`${p}.mlp.down_proj.weight`), hidden, D, F); // [D]
    x = x.map((value, i) => value + (ffnOut[i] as number));
  }
  const final = rmsNorm(x, w("model.norm.weight"), config.rmsNormEps);
  const classifier = config.tieWordEmbeddings ? w("model.embed_tokens.weight") : w("lm_head.weight");
  return matVec(classifier, final, V, D); // [V]
}

function argmax(values: Float64Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

describe("stories260K weights in a reference forward pass", () => {
  it("reproduce the golden logits and greedy tokens", async () => {
    const model = await loadLlama2cCheckpoint(sharedPath("models", "stories260K", "stories260K.bin"));
    const keys = Array.from({ length: model.config.numLayers }, () => [] as Float64Array[]);
    const values = Array.from({ length: model.config.numLayers }, () => [] as Float64Array[]);

    // Position 0 after BOS: the five largest logits.
    const logits = forward(model, 1, 0, keys, values);
    const top5 = Array.from(logits.keys())
      .sort((a, b) => (logits[b] as number) - (logits[a] as number))
      .slice(0, 5);
    expect(top5).toEqual(GOLDEN.pos0_BOS_logits_top5.map(([id]) => id));
    for (const [id, logit] of GOLDEN.pos0_BOS_logits_top5) expect(logits[id]).toBeCloseTo(logit, 3);

    // Greedy decoding exercises RoPE at positions 1..31, where the q/k permutation matters.
    const generated = [argmax(logits)];
    for (let pos = 1; pos < GOLDEN.greedy_from_BOS_first32.length; pos++) {
      generated.push(argmax(forward(model, generated[pos - 1] as number, pos, keys, values)));
    }
    expect(generated).toEqual(GOLDEN.greedy_from_BOS_first32);
  });
});
