/**
 * Seeded random models for tests and benchmarks: tiny configs whose forward passes are
 * cheap to check by hand, and full-size shapes for timing without downloading weights.
 */

import { InvalidArgumentError, Tensor, shapeSize } from "@lcc/tensor";

import { type LlamaConfig, type LoadedModel, expectedWeightShapes } from "./config.js";
import { validateLlamaConfig } from "./hf-config.js";

/** Standard deviation of projection and embedding weights. */
const WEIGHT_STD = 0.02;
/** Norm weights are 1 + N(0, NORM_STD), so a missing norm scale changes the output. */
const NORM_STD = 0.1;
/** Biases are N(0, BIAS_STD): small, but large enough that a missing bias shows. */
const BIAS_STD = 0.05;

/**
 * A deterministic pseudo-random generator: mulberry32, a 32-bit state advanced by a
 * Weyl sequence and mixed by multiply-xorshift steps. Not for cryptography.
 */
export class SeededRandom {
  private state: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(`seed must be an integer, found ${seed}`);
    this.state = seed >>> 0;
  }

  /** Returns a uniform number in [0, 1) with 32 random bits. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let mixed = this.state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  }

  /** Returns a standard normal sample (Box–Muller, two samples per pair of uniforms). */
  normal(): number {
    if (this.spareNormal !== null) {
      const spare = this.spareNormal;
      this.spareNormal = null;
      return spare;
    }
    const u1 = 1 - this.next(); // (0, 1], so the logarithm is finite
    const u2 = this.next();
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }
}

/** Mean and standard deviation of a weight's random values, chosen by its role. */
function distributionFor(name: string): { mean: number; std: number } {
  if (name.endsWith("norm.weight")) return { mean: 1, std: NORM_STD };
  if (name.endsWith(".bias")) return { mean: 0, std: BIAS_STD };
  return { mean: 0, std: WEIGHT_STD };
}

/**
 * Creates a float32 model with every weight `config` requires, drawn from a generator
 * seeded with `seed`: the same config and seed always give the same bits.
 */
export function createRandomModel(config: LlamaConfig, seed: number): LoadedModel {
  validateLlamaConfig(config);
  const random = new SeededRandom(seed);
  const weights = new Map<string, Tensor>();
  for (const [name, shape] of expectedWeightShapes(config)) {
    const { mean, std } = distributionFor(name);
    const data = new Float32Array(shapeSize(shape));
    for (let i = 0; i < data.length; i++) data[i] = mean + std * random.normal();
    weights.set(name, new Tensor("float32", shape, data));
  }
  return Object.freeze({ config, weights });
}

/**
 * Returns a tiny valid config, by default V=96, D=32, F=64, L=2, H=4, Hkv=2, Dh=8 and
 * 128 positions, with `overrides` applied. headDim defaults to hiddenSize / numHeads and
 * attentionBias to true for qwen2 only. Throws InvalidArgumentError listing every
 * inconsistency of the result.
 */
export function randomConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  const architecture = overrides.architecture ?? "llama";
  const hiddenSize = overrides.hiddenSize ?? 32;
  const numHeads = overrides.numHeads ?? 4;
  const config: LlamaConfig = {
    architecture,
    name: `random-tiny-${architecture}`,
    vocabSize: 96,
    hiddenSize,
    intermediateSize: 64,
    numLayers: 2,
    numHeads,
    numKvHeads: 2,
    headDim: hiddenSize / numHeads,
    maxPositions: 128,
    ropeTheta: 10000,
    ropeScaling: null,
    rmsNormEps: 1e-5,
    attentionBias: architecture === "qwen2",
    tieWordEmbeddings: false,
    bosTokenId: 1,
    eosTokenIds: [2],
    ...overrides,
  };
  validateLlamaConfig(config);
  return Object.freeze({ ...config, eosTokenIds: Object.freeze([...config.eosTokenIds]) });
}

/**
 * Returns the shape of HuggingFaceTB/SmolLM2-135M as published in its config.json, for
 * timing and memory checks with random weights.
 */
export function smolLM2Shape(): LlamaConfig {
  return Object.freeze({
    architecture: "llama",
    name: "HuggingFaceTB/SmolLM2-135M",
    vocabSize: 49152,
    hiddenSize: 576,
    intermediateSize: 1536,
    numLayers: 30,
    numHeads: 9,
    numKvHeads: 3,
    headDim: 64,
    maxPositions: 8192,
    ropeTheta: 100000,
    ropeScaling: null,
    rmsNormEps: 1e-5,
    attentionBias: false,
    tieWordEmbeddings: true,
    bosTokenId: 0,
    eosTokenIds: Object.freeze([0]),
  });
}
