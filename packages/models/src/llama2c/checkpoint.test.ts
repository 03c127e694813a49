import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { Tensor } from "@lcc/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { expectedWeightShapes } from "../config.js";
import { ModelLoadError } from "../errors.js";
import { sharedPath } from "../test/shared.js";
import { loadLlama2cCheckpoint } from "./checkpoint.js";

const STORIES = sharedPath("models", "stories260K", "stories260K.bin");

// stories260K: D 64, F 172, L 5, H 8, Hkv 4, V 512, S 512, Dh 8.
const D = 64;
const F = 172;
const L = 5;
const H = 8;
const Hkv = 4;
const V = 512;
const Dh = 8;

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "lcc-llama2c-"));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** Float32 values of the raw file starting at element `offset` after the 28-byte header. */
function rawFloats(bytes: Buffer, offset: number, count: number): Float32Array {
  const copy = new Uint8Array(bytes.subarray(28 + 4 * offset, 28 + 4 * (offset + count)));
  return new Float32Array(copy.buffer);
}

function weight(weights: ReadonlyMap<string, Tensor>, name: string): Float32Array {
  const tensor = weights.get(name);
  if (tensor === undefined) throw new Error(`missing weight ${name}`);
  return tensor.data as Float32Array;
}

/** y = W x for W [rows, cols] row-major. */
function matVec(w: Float32Array, x: Float64Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += (w[r * cols + c] as number) * (x[c] as number);
    y[r] = sum;
  }
  return y;
}

/** llama2.c RoPE: rotates adjacent pairs (2i, 2i+1) of each head by pos * theta^(-2i/Dh). */
function ropeInterleaved(v: Float64Array, heads: number, pos: number): Float64Array {
  const out = Float64Array.from(v);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < Dh / 2; i++) {
      const angle = pos * 10000 ** (-(2 * i) / Dh);
      const a = v[h * Dh + 2 * i] as number;
      const b = v[h * Dh + 2 * i + 1] as number;
      out[h * Dh + 2 * i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[h * Dh + 2 * i + 1] = a * Math.sin(angle) + b * Math.cos(angle);
    }
  }
  return out;
}

/** Hugging Face RoPE: rotates (i, i + Dh/2) of each head by pos * theta^(-2i/Dh). */
function ropeRotateHalf(v: Float64Array, heads: number, pos: number): Float64Array {
  const out = Float64Array.from(v);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < Dh / 2; i++) {
      const angle = pos * 10000 ** (-(2 * i) / Dh);
      const a = v[h * Dh + i] as number;
      const b = v[h * Dh + i + Dh / 2] as number;
      out[h * Dh + i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[h * Dh + i + Dh / 2] = a * Math.sin(angle) + b * Math.cos(angle);
    }
  }
  return out;
}

/** Deterministic pseudo-random values in [-1, 1). */
function randomVector(size: number, seed: number): Float64Array {
  let state = seed >>> 0;
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Writes a legacy checkpoint in which element i of tensor number t (in file order) is
 * t * 1000 + i, so that every weight can be traced back to its source.
 */
function writeSyntheticCheckpoint(path: string, dims: { D: number; F: number; L: number; H: number; Hkv: number; V: number; S: number; shared: boolean }): void {
  const dh = dims.D / dims.H;
  const kv = dims.Hkv * dh;
  const sizes = [
    dims.V * dims.D, // token_embedding
    dims.L * dims.D, // rms_att
    dims.L * dims.D * dims.D, // wq
    dims.L * kv * dims.D, // wk
    dims.L * kv * dims.D, // wv
    dims.L * dims.D * dims.D, // wo
    dims.L * dims.D, // rms_ffn
    dims.L * dims.F * dims.D, // w1
    dims.L * dims.D * dims.F, // w2
    dims.L * dims.F * dims.D, // w3
    dims.D, // rms_final
    (dims.S * dh) / 2, // freq_cis_real
    (dims.S * dh) / 2, // freq_cis_imag
  ];
  if (!dims.shared) sizes.push(dims.V * dims.D); // wcls
  const total = sizes.reduce((a, b) => a + b, 0);
  const buffer = Buffer.alloc(28 + 4 * total);
  const header = [dims.D, dims.F, dims.L, dims.H, dims.Hkv, dims.shared ? dims.V : -dims.V, dims.S];
  header.forEach((value, i) => {
    buffer.writeInt32LE(value, 4 * i);
  });
  let offset = 28;
  sizes.forEach((size, t) => {
    for (let i = 0; i < size; i++) {
      buffer.writeFloatLE(t * 1000 + i, offset);
      offset += 4;
    }
  });
  writeFileSync(path, buffer);
}

describe("loadLlama2cCheckpoint on stories260K", () => {
  it("reads the header into the config", async () => {
    const { config } = await loadLlama2cCheckpoint(STORIES);
    expect(config).toMatchObject({
      architecture: "llama",
      name: "stories260K",
      vocabSize: V,
      hiddenSize: D,
      intermediateSize: F,
      numLayers: L,
      numHeads: H,
      numKvHeads: Hkv,
      headDim: Dh,
      maxPositions: 512,
      ropeTheta: 10000,
      ropeScaling: null,
      rmsNormEps: 1e-5,
      attentionBias: false,
      tieWordEmbeddings: true,
      bosTokenId: 1,
      eosTokenIds: [2, 1],
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("uses the name option", async () => {
    const { config } = await loadLlama2cCheckpoint(STORIES, { name: "tiny" });
    expect(config.name).toBe("tiny");
  });

  it("matches the expected weight shapes", async () => {
    const { config, weights } = await loadLlama2cCheckpoint(STORIES);
    const expected = expectedWeightShapes(config);
    expect([...weights.keys()].sort()).toEqual([...expected.keys()].sort());
    expect(weights.has("lm_head.weight")).toBe(false);
    for (const [name, shape] of expected) {
      const tensor = weights.get(name);
      expect(tensor?.shape, name).toEqual(shape);
      expect(tensor?.dtype, name).toBe("float32");
    }
  });

  it("copies other tensors from file offsets", async () => {
    const bytes = readFileSync(STORIES);
    const { weights } = await loadLlama2cCheckpoint(STORIES);
    const kv = Hkv * Dh;
    // Element offsets of each stacked tensor after the header.
    const embedding = 0;
    const rmsAtt = embedding + V * D;
    const wq = rmsAtt + L * D;
    const wk = wq + L * D * D;
    const wv = wk + L * kv * D;
    const wo = wv + L * kv * D;
    const rmsFfn = wo + L * D * D;
    const w1 = rmsFfn + L * D;
    const w2 = w1 + L * F * D;
    const w3 = w2 + L * D * F;
    const rmsFinal = w3 + L * F * D;
    const layer = 3;
    expect(weight(weights, "model.embed_tokens.weight")).toEqual(rawFloats(bytes, embedding, V * D));
    expect(weight(weights, `model.layers.${layer}.input_layernorm.weight`)).toEqual(rawFloats(bytes, rmsAtt + layer * D, D));
    expect(weight(weights, `model.layers.${layer}.self_attn.v_proj.weight`)).toEqual(rawFloats(bytes, wv + layer * kv * D, kv * D));
    expect(weight(weights, `model.layers.${layer}.self_attn.o_proj.weight`)).toEqual(rawFloats(bytes, wo + layer * D * D, D * D));
    expect(weight(weights, `model.layers.${layer}.post_attention_layernorm.weight`)).toEqual(rawFloats(bytes, rmsFfn + layer * D, D));
    expect(weight(weights, `model.layers.${layer}.mlp.gate_proj.weight`)).toEqual(rawFloats(bytes, w1 + layer * F * D, F * D));
    expect(weight(weights, `model.layers.${layer}.mlp.down_proj.weight`)).toEqual(rawFloats(bytes, w2 + layer * D * F, D * F));
    expect(weight(weights, `model.layers.${layer}.mlp.up_proj.weight`)).toEqual(rawFloats(bytes, w3 + layer * F * D, F * D));
    expect(weight(weights, "model.norm.weight")).toEqual(rawFloats(bytes, rmsFinal, D));
    // The file ends with the two RoPE tables [S, Dh/2], which the loader skips.
    expect(bytes.length).toBe(28 + 4 * (rmsFinal + D + 2 * 512 * (Dh / 2)));
  });

  it("permutes q and k for rotate-half RoPE", async () => {
    const bytes = readFileSync(STORIES);
    const { weights } = await loadLlama2cCheckpoint(STORIES);
    const kv = Hkv * Dh;
    const wqOffset = V * D + L * D; // layer 0
    const wkOffset = wqOffset + L * D * D;
    const metaWq = rawFloats(bytes, wqOffset, D * D); // [H*Dh, D]
    const metaWk = rawFloats(bytes, wkOffset, kv * D); // [Hkv*Dh, D]
    const hfWq = weight(weights, "model.layers.0.self_attn.q_proj.weight");
    const hfWk = weight(weights, "model.layers.0.self_attn.k_proj.weight");
    const x = randomVector(D, 7);
    const y = randomVector(D, 11);
    const queryPos = 9;
    const keyPos = 4;

    const metaQ = ropeInterleaved(matVec(metaWq, x, D, D), H, queryPos); // [H*Dh]
    const metaK = ropeInterleaved(matVec(metaWk, y, kv, D), Hkv, keyPos); // [Hkv*Dh]
    const hfQ = ropeRotateHalf(matVec(hfWq, x, D, D), H, queryPos); // [H*Dh]
    const hfK = ropeRotateHalf(matVec(hfWk, y, kv, D), Hkv, keyPos); // [Hkv*Dh]

    // Rotated vectors agree element by element once the row order is mapped back.
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Dh; i++) {
        const metaIndex = h * Dh + (i < Dh / 2 ? 2 * i : 2 * (i - Dh / 2) + 1);
        expect(hfQ[h * Dh + i]).toBeCloseTo(metaQ[metaIndex] as number, 9);
      }
    }

    // Attention scores q·k per query head (key head h / (H / Hkv)) agree.
    for (let h = 0; h < H; h++) {
      const kvHead = Math.floor(h / (H / Hkv));
      let metaScore = 0;
      let hfScore = 0;
      for (let i = 0; i < Dh; i++) {
        metaScore += (metaQ[h * Dh + i] as number) * (metaK[kvHead * Dh + i] as number);
        hfScore += (hfQ[h * Dh + i] as number) * (hfK[kvHead * Dh + i] as number);
      }
      expect(hfScore).toBeCloseTo(metaScore, 9);
    }

    // Sanity check: without the permutation the scores would differ.
    const unpermutedQ = ropeRotateHalf(matVec(metaWq, x, D, D), H, queryPos);
    const unpermutedK = ropeRotateHalf(matVec(metaWk, y, kv, D), Hkv, keyPos);
    let maxDifference = 0;
    for (let h = 0; h < H; h++) {
      const kvHead = Math.floor(h / (H / Hkv));
      let metaScore = 0;
      let wrongScore = 0;
      for (let i = 0; i < Dh; i++) {
        metaScore += (metaQ[h * Dh + i] as number) * (metaK[kvHead * Dh + i] as number);
        wrongScore += (unpermutedQ[h * Dh + i] as number) * (unpermutedK[kvHead * Dh + i] as number);
      }
      maxDifference = Math.max(maxDifference, Math.abs(metaScore - wrongScore));
    }
    expect(maxDifference).toBeGreaterThan(1e-3);
  });
});

describe("loadLlama2cCheckpoint on synthetic files", () => {
  const dims = { D: 8, F: 12, L: 2, H: 2, Hkv: 1, V: 10, S: 6, shared: false };
  const dh = dims.D / dims.H;
  const kv = dims.Hkv * dh;

  it("reads a separate classifier", async () => {
    const path = join(workDir, "unshared.bin");
    writeSyntheticCheckpoint(path, dims);
    const { config, weights } = await loadLlama2cCheckpoint(path);
    expect(config.tieWordEmbeddings).toBe(false);
    expect(config.name).toBe("unshared");
    expect([...weights.keys()].sort()).toEqual([...expectedWeightShapes(config).keys()].sort());
    expect(weights.get("lm_head.weight")?.shape).toEqual([dims.V, dims.D]);
    // wcls is tensor 13 in file order.
    expect(Array.from(weight(weights, "lm_head.weight"))).toEqual(Array.from({ length: dims.V * dims.D }, (_, i) => 13000 + i));
  });

  it("maps tensors to Hugging Face names", async () => {
    const path = join(workDir, "names.bin");
    writeSyntheticCheckpoint(path, dims);
    const { weights } = await loadLlama2cCheckpoint(path);
    const layer = 1;
    // [name, tensor number in file order, elements per layer]
    const unpermuted: [string, number, number][] = [
      [`model.layers.${layer}.input_layernorm.weight`, 1, dims.D],
      [`model.layers.${layer}.self_attn.v_proj.weight`, 4, kv * dims.D],
      [`model.layers.${layer}.self_attn.o_proj.weight`, 5, dims.D * dims.D],
      [`model.layers.${layer}.post_attention_layernorm.weight`, 6, dims.D],
      [`model.layers.${layer}.mlp.gate_proj.weight`, 7, dims.F * dims.D],
      [`model.layers.${layer}.mlp.down_proj.weight`, 8, dims.D * dims.F],
      [`model.layers.${layer}.mlp.up_proj.weight`, 9, dims.F * dims.D],
    ];
    for (const [name, tensorNumber, size] of unpermuted) {
      const expected = Array.from({ length: size }, (_, i) => tensorNumber * 1000 + layer * size + i);
      expect(Array.from(weight(weights, name)), name).toEqual(expected);
    }
    expect(Array.from(weight(weights, "model.embed_tokens.weight"))).toEqual(Array.from({ length: dims.V * dims.D }, (_, i) => i));
    expect(Array.from(weight(weights, "model.norm.weight"))).toEqual(Array.from({ length: dims.D }, (_, i) => 10000 + i));

    // q rows of head 1 in Hugging Face order come from llama2.c rows 0, 2, 1, 3 of that head.
    const q = weight(weights, `model.layers.${layer}.self_attn.q_proj.weight`);
    const qBase = 2000 + layer * dims.D * dims.D;
    const firstColumnOfHead1 = [0, 1, 2, 3].map((i) => (q[(dh + i) * dims.D] as number) - qBase);
    expect(firstColumnOfHead1).toEqual([dh + 0, dh + 2, dh + 1, dh + 3].map((row) => row * dims.D));
    const k = weight(weights, `model.layers.${layer}.self_attn.k_proj.weight`);
    const kBase = 3000 + layer * kv * dims.D;
    expect([0, 1, 2, 3].map((i) => (k[i * dims.D + 5] as number) - kBase)).toEqual([0, 2, 1, 3].map((row) => row * dims.D + 5));
  });
});

describe("loadLlama2cCheckpoint errors", () => {
  async function expectLoadError(path: string, pattern: RegExp): Promise<ModelLoadError> {
    const error = await loadLlama2cCheckpoint(path).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).name).toBe("ModelLoadError");
    expect((error as Error).message).toMatch(pattern);
    return error as ModelLoadError;
  }

  it("names a missing file", async () => {
    const path = join(workDir, "does-not-exist.bin");
    const error = await expectLoadError(path, /not found/);
    expect(error.message).toContain(path);
  });

  it("rejects an empty file", async () => {
    const path = join(workDir, "empty.bin");
    writeFileSync(path, Buffer.alloc(0));
    const error = await expectLoadError(path, /has 0 bytes, fewer than its 28-byte header/);
    expect(error.message).toContain("hint:");
  });

  it("rejects a truncated copy with both byte counts", async () => {
    const path = join(workDir, "truncated.bin");
    const bytes = readFileSync(STORIES);
    writeFileSync(path, bytes.subarray(0, 500_000));
    const error = await expectLoadError(path, /has 500,000 bytes, but its header \(dim 64, hidden_dim 172, .*\) requires 1,056,540 bytes/);
    expect(error.message).toMatch(/hint: the file is truncated/);
    expect(error.details).toMatchObject({ expectedBytes: 1_056_540, actualBytes: 500_000 });
  });

  it("rejects a file with trailing bytes", async () => {
    const path = join(workDir, "longer.bin");
    writeFileSync(path, Buffer.concat([readFileSync(STORIES), Buffer.alloc(8)]));
    await expectLoadError(path, /has 1,056,548 bytes, but .* requires 1,056,540 bytes[\s\S]*hint: the file has extra bytes/);
  });

  it("rejects a header contradicting the size", async () => {
    const path = join(workDir, "four-layers.bin");
    const bytes = Buffer.from(readFileSync(STORIES));
    bytes.writeInt32LE(4, 8); // n_layers 5 -> 4
    writeFileSync(path, bytes);
    await expectLoadError(path, /has 1,056,540 bytes, but its header \(.*n_layers 4.*\) requires \d[\d,]* bytes/);
  });

  it("rejects a wrong classifier flag", async () => {
    const path = join(workDir, "negative-vocab.bin");
    const bytes = Buffer.from(readFileSync(STORIES));
    bytes.writeInt32LE(-512, 20); // claims a separate classifier
    writeFileSync(path, bytes);
    await expectLoadError(path, /vocab_size -512.* requires 1,187,612 bytes/);
  });

  it("lists every invalid header value", async () => {
    const path = join(workDir, "bad-header.bin");
    const bytes = Buffer.from(readFileSync(STORIES));
    bytes.writeInt32LE(0, 12); // n_heads 0
    bytes.writeInt32LE(-3, 24); // seq_len -3
    writeFileSync(path, bytes);
    const error = await expectLoadError(path, /invalid llama2.c header/);
    expect(error.message).toContain("n_heads is 0 but must be positive");
    expect(error.message).toContain("seq_len is -3 but must be positive");
  });

  it("rejects heads that do not divide", async () => {
    const path = join(workDir, "bad-heads.bin");
    const bytes = Buffer.from(readFileSync(STORIES));
    bytes.writeInt32LE(3, 16); // n_kv_heads 3 does not divide n_heads 8
    writeFileSync(path, bytes);
    await expectLoadError(path, /n_heads 8 is not a multiple of n_kv_heads 3/);
    bytes.writeInt32LE(4, 16);
    bytes.writeInt32LE(6, 12); // n_heads 6 does not divide dim 64
    writeFileSync(path, bytes);
    await expectLoadError(path, /dim 64 is not a multiple of n_heads 6/);
  });

  it("explains versioned exports", async () => {
    const path = join(workDir, "v1.bin");
    const bytes = Buffer.alloc(256);
    bytes.writeUInt32LE(0x616b3432, 0);
    bytes.writeInt32LE(1, 4);
    writeFileSync(path, bytes);
    await expectLoadError(path, /versioned llama2.c export .*version 1[\s\S]*hint: .*--version 0/);
  });
});
