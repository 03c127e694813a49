/**
 * Reader for karpathy/llama2.c checkpoints in the legacy (version 0) `.bin` layout.
 *
 * Legend: V vocabulary, D model width, F feed-forward width, L layers, H query heads,
 * Hkv key/value heads, Dh = D / H head width, S = seq_len.
 *
 * Layout (little-endian): seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len), then float32 tensors in this order:
 *
 *   token_embedding [V, D]      rms_att [L, D]
 *   wq [L, D, D]                wk [L, Hkv*Dh, D]     wv [L, Hkv*Dh, D]     wo [L, D, D]
 *   rms_ffn [L, D]              w1 [L, F, D]          w2 [L, D, F]          w3 [L, F, D]
 *   rms_final [D]               freq_cis_real [S, Dh/2]   freq_cis_imag [S, Dh/2]
 *   wcls [V, D]                 (only when vocab_size is negative)
 *
 * Each projection is stored as [out, in] like PyTorch's nn.Linear. A negative
 * vocab_size means the classifier is stored separately instead of sharing the token
 * embedding. The two RoPE tables are left over from an early export format and are
 * skipped, because RoPE is recomputed from theta.
 */

import { type FileHandle, open, stat } from "node:fs/promises";
import { endianness } from "node:os";
import { basename } from "node:path";

import { Tensor } from "@lcc/tensor";

import type { LlamaConfig, LoadedModel } from "../config.js";
import { ModelLoadError } from "../errors.js";

/** Bytes of the header: seven int32 values. */
export const LLAMA2C_HEADER_BYTES = 28;

/** First uint32 of version 1 and 2 exports ("ak42" as little-endian bytes). */
const LLAMA2C_VERSIONED_MAGIC = 0x616b3432;

/** Values of a llama2.c checkpoint header, with the sign of vocab_size already split off. */
export interface Llama2cHeader {
  readonly dim: number; // D, 64
  readonly hiddenDim: number; // F, 172
  readonly numLayers: number; // L, 5
  readonly numHeads: number; // H, 8
  readonly numKvHeads: number; // Hkv, 4
  readonly vocabSize: number; // V, 512
  readonly seqLen: number; // S, 512
  /** True when vocab_size is positive, so the classifier reuses the token embedding. */
  readonly sharedClassifier: boolean;
}

export interface Llama2cLoadOptions {
  /** Name stored in the config. The default is the file name without `.bin`. */
  readonly name?: string;
}

/** One float32 tensor of the file: its llama2.c name, shape and element offset. */
interface StoredTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number; // elements after the header
}

// ---------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------

/** Decodes the seven header values and lists every inconsistency at once. */
export function parseLlama2cHeader(bytes: Uint8Array, path: string): Llama2cHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, LLAMA2C_HEADER_BYTES);
  if (view.getUint32(0, true) === LLAMA2C_VERSIONED_MAGIC) {
    throw new ModelLoadError(
      `${path} is a versioned llama2.c export (magic "ak42", version ${view.getInt32(4, true)}); only the legacy version 0 layout is supported\n` +
        "hint: export the checkpoint again with llama2.c's export.py --version 0",
      { details: { path } },
    );
  }

  const values = Array.from({ length: 7 }, (_, i) => view.getInt32(4 * i, true));
  const [dim, hiddenDim, numLayers, numHeads, numKvHeads, signedVocab, seqLen] = values as [number, number, number, number, number, number, number];
  const header: Llama2cHeader = {
    dim,
    hiddenDim,
    numLayers,
    numHeads,
    numKvHeads,
    vocabSize: Math.abs(signedVocab),
    seqLen,
    sharedClassifier: signedVocab > 0,
  };

  // Every value must be positive before the divisibility rules make sense.
  const problems: string[] = [];
  const named: [string, number][] = [
    ["dim", dim],
    ["hidden_dim", hiddenDim],
    ["n_layers", numLayers],
    ["n_heads", numHeads],
    ["n_kv_heads", numKvHeads],
    ["vocab_size", signedVocab],
    ["seq_len", seqLen],
  ];
  for (const [name, value] of named) {
    const positive = name === "vocab_size" ? value !== 0 : value > 0;
    if (!positive) problems.push(`${name} is ${value} but must be ${name === "vocab_size" ? "non-zero" : "positive"}`);
  }
  if (problems.length === 0) {
    if (dim % numHeads !== 0) problems.push(`dim ${dim} is not a multiple of n_heads ${numHeads}`);
    if (numHeads % numKvHeads !== 0) problems.push(`n_heads ${numHeads} is not a multiple of n_kv_heads ${numKvHeads}`);
    const headDim = dim / numHeads;
    if (Number.isInteger(headDim) && headDim % 2 !== 0) problems.push(`head size dim / n_heads = ${headDim} is odd, but RoPE rotates pairs of values`);
  }
  if (problems.length > 0) {
    throw new ModelLoadError(
      `${path} has an invalid llama2.c header (${formatHeaderValues(values)}):\n${problems.map((problem) => `  - ${problem}`).join("\n")}\n` +
        "hint: the file is probably not a llama2.c checkpoint, or it was written by another exporter",
      { details: { path, header: values } },
    );
  }
  return header;
}

function formatHeaderValues(values: readonly number[]): string {
  const names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
  return names.map((name, i) => `${name} ${values[i]}`).join(", ");
}

/** Lists the tensors of a legacy checkpoint in file order, with their element offsets. */
function storedTensors(header: Llama2cHeader): { tensors: StoredTensor[]; totalElements: number } {
  const { dim: D, hiddenDim: F, numLayers: L, numHeads: H, numKvHeads: Hkv, vocabSize: V, seqLen: S } = header;
  const Dh = D / H;
  const tensors: StoredTensor[] = [];
  let offset = 0;
  const add = (name: string, shape: number[]): void => {
    tensors.push({ name, shape, offset });
    offset += shape.reduce((product, size) => product * size, 1);
  };
  add("token_embedding", [V, D]);
  add("rms_att", [L, D]);
  add("wq", [L, H * Dh, D]);
  add("wk", [L, Hkv * Dh, D]);
  add("wv", [L, Hkv * Dh, D]);
  add("wo", [L, D, H * Dh]);
  add("rms_ffn", [L, D]);
  add("w1", [L, F, D]);
  add("w2", [L, D, F]);
  add("w3", [L, F, D]);
  add("rms_final", [D]);
  add("freq_cis_real", [S, Dh / 2]);
  add("freq_cis_imag", [S, Dh / 2]);
  if (!header.sharedClassifier) add("wcls", [V, D]);
  return { tensors, totalElements: offset };
}

/** Byte size that a legacy checkpoint with this header must have. */
export function expectedLlama2cFileBytes(header: Llama2cHeader): number {
  return LLAMA2C_HEADER_BYTES + 4 * storedTensors(header).totalElements;
}

// ---------------------------------------------------------------------------
// RoPE row order
// ---------------------------------------------------------------------------

/**
 * Reorders the rows of a query or key projection [heads*Dh, D] from llama2.c's RoPE
 * order, which rotates adjacent pairs (2i, 2i+1), to Hugging Face's "rotate half" order,
 * which rotates (i, i + Dh/2). Row i < Dh/2 of a head takes row 2i, and row Dh/2 + i
 * takes row 2i + 1.
 */
export function permuteRopeRowsToRotateHalf(rows: Float32Array, numHeads: number, headDim: number, width: number): Float32Array {
  const half = headDim / 2;
  const permuted = new Float32Array(rows.length); // [heads*Dh, D]
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < headDim; i++) {
      const source = h * headDim + (i < half ? 2 * i : 2 * (i - half) + 1);
      const target = h * headDim + i;
      permuted.set(rows.subarray(source * width, (source + 1) * width), target * width);
    }
  }
  return permuted;
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/**
 * Loads a legacy llama2.c checkpoint and converts it to Hugging Face names and layouts.
 * Throws ModelLoadError when the file is missing, its header is invalid, or its size
 * differs from what the header requires.
 */
export async function loadLlama2cCheckpoint(path: string, options: Llama2cLoadOptions = {}): Promise<LoadedModel> {
  // Check that the file exists and is at least as long as the header.
  let fileBytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ModelLoadError(`llama2.c checkpoint ${path} is not a regular file`, { details: { path } });
    fileBytes = info.size;
  } catch (error) {
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(`llama2.c checkpoint not found or not readable: ${path}\nhint: check the path, or download the checkpoint first`, {
      cause: error,
      details: { path },
    });
  }
  if (fileBytes < LLAMA2C_HEADER_BYTES) {
    throw new ModelLoadError(
      `llama2.c checkpoint ${path} has ${fileBytes} bytes, fewer than its ${LLAMA2C_HEADER_BYTES}-byte header\nhint: the file is empty or truncated; download it again`,
      { details: { path, expectedBytes: LLAMA2C_HEADER_BYTES, actualBytes: fileBytes } },
    );
  }
  if (endianness() !== "LE") {
    throw new ModelLoadError(`llama2.c checkpoints are little-endian, and reading them on a big-endian host is not supported (${path})`, {
      details: { path },
    });
  }

  const file = await open(path, "r");
  try {
    // Decode the header and compare the size it implies with the real size.
    const headerBytes = new Uint8Array(LLAMA2C_HEADER_BYTES);
    await readExactly(file, headerBytes, 0, path);
    const header = parseLlama2cHeader(headerBytes, path);
    const { tensors, totalElements } = storedTensors(header);
    const expectedBytes = LLAMA2C_HEADER_BYTES + 4 * totalElements;
    if (fileBytes !== expectedBytes) {
      const hint =
        fileBytes < expectedBytes
          ? "the file is truncated; download or export it again"
          : "the file has extra bytes; it may be a newer llama2.c export or a quantized one, which are not supported";
      throw new ModelLoadError(
        `llama2.c checkpoint ${path} has ${fileBytes.toLocaleString("en-US")} bytes, but its header (${describeHeader(header)}) requires ` +
          `${expectedBytes.toLocaleString("en-US")} bytes (header, float32 weights and RoPE tables)\nhint: ${hint}`,
        { details: { path, expectedBytes, actualBytes: fileBytes } },
      );
    }

    // Read each stored tensor straight into its own Float32Array.
    const stored = new Map<string, Float32Array>();
    for (const tensor of tensors) {
      if (tensor.name === "freq_cis_real" || tensor.name === "freq_cis_imag") continue;
      const size = tensor.shape.reduce((product, dim) => product * dim, 1);
      const values = new Float32Array(size);
      await readExactly(file, new Uint8Array(values.buffer), LLAMA2C_HEADER_BYTES + 4 * tensor.offset, path);
      stored.set(tensor.name, values);
    }

    const config = llama2cConfig(header, options.name ?? basename(path).replace(/\.bin$/, ""));
    return { config, weights: toHuggingFaceWeights(header, stored) };
  } finally {
    await file.close();
  }
}

function describeHeader(header: Llama2cHeader): string {
  const vocab = header.sharedClassifier ? header.vocabSize : -header.vocabSize;
  return (
    `dim ${header.dim}, hidden_dim ${header.hiddenDim}, n_layers ${header.numLayers}, n_heads ${header.numHeads}, ` +
    `n_kv_heads ${header.numKvHeads}, vocab_size ${vocab}, seq_len ${header.seqLen}`
  );
}

/** Fills `target` from `position`, looping because one read may return fewer bytes. */
async function readExactly(file: FileHandle, target: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await file.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) {
      throw new ModelLoadError(`llama2.c checkpoint ${path} ended at byte ${position + done} while reading ${target.length} bytes from byte ${position}`, {
        details: { path },
      });
    }
    done += bytesRead;
  }
}

function llama2cConfig(header: Llama2cHeader, name: string): LlamaConfig {
  return Object.freeze({
    architecture: "llama",
    name,
    vocabSize: header.vocabSize,
    hiddenSize: header.dim,
    intermediateSize: header.hiddenDim,
    numLayers: header.numLayers,
    numHeads: header.numHeads,
    numKvHeads: header.numKvHeads,
    headDim: header.dim / header.numHeads,
    maxPositions: header.seqLen,
    ropeTheta: 10000,
    ropeScaling: null,
    rmsNormEps: 1e-5,
    attentionBias: false,
    tieWordEmbeddings: header.sharedClassifier,
    bosTokenId: 1,
    // llama2.c's training data separates stories with BOS, and its run.c ends generation
    // when the model emits BOS; </s> (2) ends it too.
    eosTokenIds: Object.freeze([2, 1]),
  } satisfies LlamaConfig);
}

/** Splits the stacked per-layer arrays and renames them to Hugging Face parameters. */
function toHuggingFaceWeights(header: Llama2cHeader, stored: Map<string, Float32Array>): Map<string, Tensor> {
  const { dim: D, hiddenDim: F, numLayers: L, numHeads: H, numKvHeads: Hkv, vocabSize: V } = header;
  const Dh = D / H;
  const get = (name: string): Float32Array => {
    const values = stored.get(name);
    if (values === undefined) throw new Error(`internal: tensor ${name} was not read`);
    return values;
  };
  const layerSlice = (name: string, layer: number, size: number): Float32Array => get(name).subarray(layer * size, (layer + 1) * size);

  const weights = new Map<string, Tensor>();
  weights.set("model.embed_tokens.weight", new Tensor("float32", [V, D], get("token_embedding"))); // [V, D]
  for (let l = 0; l < L; l++) {
    const prefix = `model.layers.${l}`;
    const wq = layerSlice("wq", l, H * Dh * D); // [H*Dh, D], adjacent RoPE pairs
    const wk = layerSlice("wk", l, Hkv * Dh * D); // [Hkv*Dh, D], adjacent RoPE pairs
    weights.set(`${prefix}.input_layernorm.weight`, new Tensor("float32", [D], layerSlice("rms_att", l, D).slice()));
    weights.set(`${prefix}.self_attn.q_proj.weight`, new Tensor("float32", [H * Dh, D], permuteRopeRowsToRotateHalf(wq, H, Dh, D)));
    weights.set(`${prefix}.self_attn.k_proj.weight`, new Tensor("float32", [Hkv * Dh, D], permuteRopeRowsToRotateHalf(wk, Hkv, Dh, D)));
    weights.set(`${prefix}.self_attn.v_proj.weight`, new Tensor("float32", [Hkv * Dh, D], layerSlice("wv", l, Hkv * Dh * D).slice()));
    weights.set(`${prefix}.self_attn.o_proj.weight`, new Tensor("float32", [D, H * Dh], layerSlice("wo", l, D * H * Dh).slice()));
    weights.set(`${prefix}.post_attention_layernorm.weight`, new Tensor("float32", [D], layerSlice("rms_ffn", l, D).slice()));
    weights.set(`${prefix}.mlp.gate_proj.weight`, new Tensor("float32", [F, D], layerSlice("w1", l, F * D).slice())); // w1
    weights.set(`${prefix}.mlp.up_proj.weight`, new Tensor("float32", [F, D], layerSlice("w3", l, F * D).slice())); // w3
    weights.set(`${prefix}.mlp.down_proj.weight`, new Tensor("float32", [D, F], layerSlice("w2", l, D * F).slice())); // w2
  }
  weights.set("model.norm.weight", new Tensor("float32", [D], get("rms_final")));
  if (!header.sharedClassifier) weights.set("lm_head.weight", new Tensor("float32", [V, D], get("wcls"))); // [V, D]
  return weights;
}
