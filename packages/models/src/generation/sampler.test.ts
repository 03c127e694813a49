import { InvalidArgumentError } from "@lcc/tensor";
import { describe, expect, it } from "vitest";
import { Sampler, argmax, createRandom } from "./sampler.js";

const probabilities = [0.5, 0.3, 0.15, 0.05];
const logits = Float32Array.from(probabilities, Math.log);

function frequencies(sampler: Sampler, draws: number): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) {
    const id = sampler.sample(logits);
    counts[id] = (counts[id] as number) + 1;
  }
  return counts.map((c) => c / draws);
}

describe("Sampler", () => {
  it("greedy picks the first maximum", () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(new Sampler().sample(Float32Array.from([0.1, 2, -1]))).toBe(1);
  });

  it("repeats its choices for the same seed", () => {
    const first = new Sampler({ temperature: 1, seed: 42 });
    const second = new Sampler({ temperature: 1, seed: 42 });
    const a = Array.from({ length: 50 }, () => first.sample(logits));
    const b = Array.from({ length: 50 }, () => second.sample(logits));
    expect(a).toEqual(b);
    const other = new Sampler({ temperature: 1, seed: 43 });
    expect(Array.from({ length: 50 }, () => other.sample(logits))).not.toEqual(a);
  });

  it("samples the softmax distribution at temperature 1", () => {
    const observed = frequencies(new Sampler({ temperature: 1, seed: 7 }), 40_000);
    observed.forEach((p, i) => {
      expect(Math.abs(p - (probabilities[i] as number))).toBeLessThan(0.01);
    });
  });

  it("sharpens the distribution at temperature 0.5", () => {
    // p_i^(1/T) renormalised: 0.25, 0.09, 0.0225, 0.0025 over 0.365.
    const expected = [0.25, 0.09, 0.0225, 0.0025].map((w) => w / 0.365);
    const observed = frequencies(new Sampler({ temperature: 0.5, seed: 9 }), 40_000);
    observed.forEach((p, i) => {
      expect(Math.abs(p - (expected[i] as number))).toBeLessThan(0.01);
    });
  });

  it("keeps only the k most likely tokens", () => {
    const observed = frequencies(new Sampler({ temperature: 1, topK: 2, seed: 3 }), 20_000);
    expect(observed[2]).toBe(0);
    expect(observed[3]).toBe(0);
    expect(Math.abs((observed[0] as number) - 0.5 / 0.8)).toBeLessThan(0.015);
  });

  it("keeps the nucleus that reaches top-p", () => {
    // 0.5 + 0.3 = 0.8 reaches top-p 0.75, so only tokens 0 and 1 remain.
    const observed = frequencies(new Sampler({ temperature: 1, topP: 0.75, seed: 5 }), 20_000);
    expect(observed[2]).toBe(0);
    expect(observed[3]).toBe(0);
    expect(Math.abs((observed[1] as number) - 0.3 / 0.8)).toBeLessThan(0.015);
    expect(frequencies(new Sampler({ temperature: 1, topP: 0.1, seed: 5 }), 200)).toEqual([1, 0, 0, 0]);
  });

  it("rejects invalid options with every problem listed", () => {
    expect(() => new Sampler({ temperature: -1 })).toThrow(InvalidArgumentError);
    expect(() => new Sampler({ temperature: -1, topP: 0, topK: 1.5 })).toThrow(
      "invalid sampling options: temperature must be a number ≥ 0, got -1; top-k must be an integer ≥ 0, got 1.5; top-p must be in (0, 1], got 0",
    );
  });

  it("createRandom returns uniform floats in [0, 1)", () => {
    const random = createRandom(1);
    const values = Array.from({ length: 10_000 }, random);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(Math.abs(values.reduce((a, b) => a + b, 0) / values.length - 0.5)).toBeLessThan(0.01);
  });
});
