import { InvalidArgumentError, type Tensor } from "@lcc/tensor";
import { describe, expect, it } from "vitest";

import { expectedWeightShapes } from "./config.js";
import { SeededRandom, createRandomModel, randomConfig, smolLM2Shape } from "./random-model.js";

/** Returns the tensor called `name`, failing the test when it is absent. */
function tensorNamed(tensors: ReadonlyMap<string, Tensor>, name: string): Tensor {
  const tensor = tensors.get(name);
  if (tensor === undefined) throw new Error(`tensor "${name}" is missing`);
  return tensor;
}

/** Mean and standard deviation of some float32 arrays taken together. */
function moments(arrays: Float32Array[]): { mean: number; std: number; count: number } {
  let sum = 0;
  let sumSquares = 0;
  let count = 0;
  for (const data of arrays) {
    for (const value of data) {
      sum += value;
      sumSquares += value * value;
      count++;
    }
  }
  const mean = sum / count;
  return { mean, std: Math.sqrt(sumSquares / count - mean * mean), count };
}

describe("SeededRandom", () => {
  it("repeats its sequence for a seed", () => {
    const first = new SeededRandom(7);
    const second = new SeededRandom(7);
    const other = new SeededRandom(8);
    const a = Array.from({ length: 5 }, () => first.next());
    expect(Array.from({ length: 5 }, () => second.next())).toEqual(a);
    expect(Array.from({ length: 5 }, () => other.next())).not.toEqual(a);
  });

  it("draws uniform numbers in [0, 1)", () => {
    const random = new SeededRandom(1);
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const value = random.next();
      if (value < 0 || value >= 1) {
        outside++;
      } else {
        const bucket = Math.floor(value * 10);
        buckets[bucket] = (buckets[bucket] ?? 0) + 1;
      }
    }
    expect(outside).toBe(0);
    // Each bucket expects 10,000 with a standard deviation of about 95.
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it("draws standard normal samples", () => {
    const random = new SeededRandom(2);
    const samples = Float32Array.from({ length: 200_000 }, () => random.normal());
    const { mean, std } = moments([samples]);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(std - 1)).toBeLessThan(0.01);
    const withinOne = samples.filter((value) => Math.abs(value) < 1).length / samples.length;
    expect(Math.abs(withinOne - 0.6827)).toBeLessThan(0.005);
  });

  it("rejects a fractional seed", () => {
    expect(() => new SeededRandom(0.5)).toThrow(InvalidArgumentError);
  });
});

describe("createRandomModel", () => {
  it("creates every expected weight with its shape in float32", () => {
    const config = randomConfig({ architecture: "qwen2" });
    const model = createRandomModel(config, 3);
    const expected = expectedWeightShapes(config);
    expect([...model.weights.keys()]).toEqual([...expected.keys()]);
    for (const [name, shape] of expected) {
      expect(tensorNamed(model.weights, name).dtype).toBe("float32");
      expect(tensorNamed(model.weights, name).shape).toEqual(shape);
    }
  });

  it("is deterministic in the seed", () => {
    const config = randomConfig();
    const first = createRandomModel(config, 11);
    const second = createRandomModel(config, 11);
    const third = createRandomModel(config, 12);
    const name = "model.layers.1.mlp.down_proj.weight";
    expect([...(tensorNamed(second.weights, name).data as Float32Array)]).toEqual([...(tensorNamed(first.weights, name).data as Float32Array)]);
    expect([...(tensorNamed(third.weights, name).data as Float32Array)]).not.toEqual([...(tensorNamed(first.weights, name).data as Float32Array)]);
  });

  it("draws projections from N(0, 0.02), norms near 1 and non-zero biases", () => {
    const config = randomConfig({ architecture: "qwen2", vocabSize: 2048, hiddenSize: 64, numHeads: 8, numKvHeads: 2 });
    const model = createRandomModel(config, 99);
    const byKind = (test: (name: string) => boolean) =>
      [...model.weights].filter(([name]) => test(name)).map(([, tensor]) => tensor.data as Float32Array);

    const projections = moments(byKind((name) => name.endsWith("proj.weight") || name.endsWith("embed_tokens.weight") || name === "lm_head.weight"));
    expect(projections.count).toBeGreaterThan(300_000);
    expect(Math.abs(projections.mean)).toBeLessThan(0.0005);
    expect(Math.abs(projections.std - 0.02)).toBeLessThan(0.0005);

    const norms = moments(byKind((name) => name.endsWith("norm.weight")));
    expect(Math.abs(norms.mean - 1)).toBeLessThan(0.05);
    expect(norms.std).toBeGreaterThan(0.05);

    const biases = byKind((name) => name.endsWith(".bias"));
    expect(biases).toHaveLength(3 * config.numLayers);
    for (const bias of biases) {
      expect(bias.every((value) => value !== 0)).toBe(true);
      expect(bias.every((value) => Math.abs(value) < 0.5)).toBe(true);
    }
  });
});

describe("randomConfig", () => {
  it("returns the tiny default", () => {
    expect(randomConfig()).toEqual({
      architecture: "llama",
      name: "random-tiny-llama",
      vocabSize: 96,
      hiddenSize: 32,
      intermediateSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      maxPositions: 128,
      ropeTheta: 10000,
      ropeScaling: null,
      rmsNormEps: 1e-5,
      attentionBias: false,
      tieWordEmbeddings: false,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
  });

  it("applies overrides and derives headDim and biases", () => {
    const config = randomConfig({ architecture: "qwen2", hiddenSize: 48, numHeads: 6, numKvHeads: 3 });
    expect(config.headDim).toBe(8);
    expect(config.attentionBias).toBe(true);
    expect(randomConfig({ attentionBias: true }).attentionBias).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("rejects inconsistent overrides, listing every problem", () => {
    let caught: unknown = null;
    try {
      randomConfig({ numKvHeads: 3, bosTokenId: 200, hiddenSize: 30 });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    expect((caught as Error).message).toMatch(/headDim must be a positive integer, found 7\.5/);
    expect((caught as Error).message).toMatch(/numHeads \(4\) must be a multiple of numKvHeads \(3\)/);
    expect((caught as Error).message).toMatch(/bosTokenId 200 is outside the vocabulary of 96 tokens/);
  });
});

describe("smolLM2Shape", () => {
  it("has the parameter count of SmolLM2-135M", () => {
    const config = smolLM2Shape();
    let parameters = 0;
    for (const shape of expectedWeightShapes(config).values()) parameters += shape.reduce((product, dim) => product * dim, 1);
    // By hand: 49152·576 + 30·(2·576² + 2·192·576 + 3·1536·576 + 2·576) + 576, with no lm_head.
    expect(parameters).toBe(134_515_008);
    expect(config.numKvHeads).toBe(3);
    expect(config.headDim).toBe(64);
    expect(config.ropeTheta).toBe(100000);
    expect(config.maxPositions).toBe(8192);
  });
});
