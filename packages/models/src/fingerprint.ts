/**
 * Content hashes that identify a base model, so that a memory compiled for one model is
 * never read by another. A llama2.c checkpoint and the Hugging Face folder converted from
 * it get the same hashes: they describe the same weights, config and tokenizer.
 */

import { createHash } from "node:crypto";
import type { LoadedModel } from "./config.js";
import type { TextTokenizer } from "./tokenizer.js";

export interface ModelHashes {
  readonly name: string;
  readonly architecture: string;
  readonly configSha256: string;
  readonly weightsSha256: string;
  readonly tokenizerSha256: string;
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

/** JSON with object keys sorted, so that equal values always hash alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

const cache = new WeakMap<LoadedModel, ModelHashes>();

/** Hashes the config (without its readable name), every weight (name, dtype, shape, bytes) and the tokenizer. */
export function modelHashes(model: LoadedModel, tokenizer: TextTokenizer): ModelHashes {
  const cached = cache.get(model);
  if (cached !== undefined) return cached;
  const { name, ...config } = model.config;

  const weights = createHash("sha256");
  for (const key of [...model.weights.keys()].sort()) {
    const tensor = model.weights.get(key);
    if (tensor === undefined) continue;
    weights.update(`${key}\0${tensor.dtype}\0${tensor.shape.join(",")}\0`);
    weights.update(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
  }
  const hashes: ModelHashes = {
    name,
    architecture: model.config.architecture,
    configSha256: createHash("sha256").update(canonicalJson(config)).digest("hex"),
    weightsSha256: weights.digest("hex"),
    tokenizerSha256: createHash("sha256").update(canonicalJson(tokenizer.toJson())).digest("hex"),
    numLayers: model.config.numLayers,
    numKvHeads: model.config.numKvHeads,
    headDim: model.config.headDim,
  };
  cache.set(model, hashes);
  return hashes;
}
