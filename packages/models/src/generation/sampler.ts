/**
 * Next-token sampling: greedy, temperature, top-k and top-p (nucleus), seeded.
 */

import { InvalidArgumentError } from "@lcc/tensor";

export interface SamplingOptions {
  /** 0 picks the most likely token (greedy). Example: 0.8. Default 0. */
  readonly temperature?: number;
  /** Keep only the k most likely tokens; 0 keeps all. Example: 40. Default 0. */
  readonly topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p. Example: 0.9. Default 1. */
  readonly topP?: number;
  /** Seed of the random stream. Default 0. */
  readonly seed?: number;
}

/** A small deterministic PRNG (SplitMix32) returning floats in [0, 1). */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

export function validateSamplingOptions(options: SamplingOptions): void {
  const problems: string[] = [];
  const { temperature = 0, topK = 0, topP = 1, seed = 0 } = options;
  if (!Number.isFinite(temperature) || temperature < 0) problems.push(`temperature must be a number ≥ 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) problems.push(`top-k must be an integer ≥ 0, got ${topK}`);
  if (!Number.isFinite(topP) || topP <= 0 || topP > 1) problems.push(`top-p must be in (0, 1], got ${topP}`);
  if (!Number.isInteger(seed)) problems.push(`seed must be an integer, got ${seed}`);
  if (problems.length > 0) throw new InvalidArgumentError(`invalid sampling options: ${problems.join("; ")}`);
}

export class Sampler {
  private readonly random: () => number;
  readonly options: Required<SamplingOptions>;

  constructor(options: SamplingOptions = {}) {
    validateSamplingOptions(options);
    this.options = { temperature: options.temperature ?? 0, topK: options.topK ?? 0, topP: options.topP ?? 1, seed: options.seed ?? 0 };
    this.random = createRandom(this.options.seed);
  }

  /** Picks the next token id from one row of logits. */
  sample(logits: Float32Array | Float64Array): number {
    if (this.options.temperature === 0) return argmax(logits);

    // Candidates sorted by logit, cut to top-k.
    let order = Array.from(logits.keys()).sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
    if (this.options.topK > 0) order = order.slice(0, this.options.topK);

    // Softmax at the temperature, in float64.
    const maxLogit = logits[order[0] as number] as number;
    const weights = order.map((id) => Math.exp(((logits[id] as number) - maxLogit) / this.options.temperature));
    const total = weights.reduce((a, b) => a + b, 0);

    // Nucleus: the smallest prefix whose probability reaches top-p.
    let keep = order.length;
    if (this.options.topP < 1) {
      let cumulative = 0;
      for (let i = 0; i < order.length; i++) {
        cumulative += (weights[i] as number) / total;
        if (cumulative >= this.options.topP) {
          keep = i + 1;
          break;
        }
      }
    }
    const keptTotal = weights.slice(0, keep).reduce((a, b) => a + b, 0);
    let threshold = this.random() * keptTotal;
    for (let i = 0; i < keep; i++) {
      threshold -= weights[i] as number;
      if (threshold < 0) return order[i] as number;
    }
    return order[keep - 1] as number;
  }
}

/** Index of the largest value; the first one on ties. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}
