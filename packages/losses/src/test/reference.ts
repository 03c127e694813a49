/**
 * Plain-JS float64 references for the token losses, written loop by loop with no graph
 * code, so that the graph losses are checked against an independent computation.
 *
 * Legend: N samples, T tokens per sample, V vocabulary, k teacher entries kept per token.
 * Every array is flat and row-major.
 */

/** A seeded generator of floats in [0, 1): a 48-bit linear congruential generator (drand48 constants). */
export function seededUniform(seed: number): () => number {
  const modulus = 2 ** 48;
  let state = (seed * 65_536 + 0x330e) % modulus;
  return () => {
    // state = (a · state + c) mod 2^48, with the product split so it stays exact in float64.
    const high = Math.floor(state / 2 ** 24);
    const low = state % 2 ** 24;
    const a = 0x5deece66d;
    const aHigh = Math.floor(a / 2 ** 24);
    const aLow = a % 2 ** 24;
    const cross = ((high * aLow + low * aHigh) % 2 ** 24) * 2 ** 24;
    state = (cross + low * aLow + 0xb) % modulus;
    return state / modulus;
  };
}

/** Draws `count` floats uniformly from [low, high). */
export function uniformValues(count: number, seed: number, low = -2, high = 2): number[] {
  const random = seededUniform(seed);
  return Array.from({ length: count }, () => low + (high - low) * random());
}

/** Computes the log softmax of each row of `logits` [rows, V]: z_v - max - log Σ exp(z - max). */
export function logSoftmaxRows(logits: readonly number[], vocabSize: number): number[] {
  const out: number[] = [];
  for (let offset = 0; offset < logits.length; offset += vocabSize) {
    const row = logits.slice(offset, offset + vocabSize);
    const max = Math.max(...row);
    let sum = 0;
    for (const z of row) sum += Math.exp(z - max);
    const logSum = max + Math.log(sum);
    for (const z of row) out.push(z - logSum);
  }
  return out;
}

/** Σ(perToken · mask) / max(Σ mask, 1). */
export function maskedMeanReference(perToken: readonly number[], mask: readonly number[]): number {
  let total = 0;
  let count = 0;
  perToken.forEach((value, i) => {
    total += value * (mask[i] as number);
    count += mask[i] as number;
  });
  return total / Math.max(count, 1);
}

/** Per-token -log q(target). logits [N·T, V], targets [N·T]. */
export function crossEntropyPerToken(logits: readonly number[], targets: readonly number[], vocabSize: number): number[] {
  const studentLog = logSoftmaxRows(logits, vocabSize);
  return targets.map((target, row) => -(studentLog[row * vocabSize + target] as number));
}

/** Per-token Σ_v p(v) (log p(v) - log q(v)). logits and teacherLog [N·T, V]. */
export function klFullPerToken(logits: readonly number[], teacherLog: readonly number[], vocabSize: number): number[] {
  const studentLog = logSoftmaxRows(logits, vocabSize);
  const out: number[] = [];
  for (let row = 0; row < logits.length / vocabSize; row++) {
    let sum = 0;
    for (let v = 0; v < vocabSize; v++) {
      const p = teacherLog[row * vocabSize + v] as number;
      sum += Math.exp(p) * (p - (studentLog[row * vocabSize + v] as number));
    }
    out.push(sum);
  }
  return out;
}

/**
 * Per-token top-k KL: Σ_i p_i (log p_i - log q_i) + r (log r - log s), with the remaining
 * masses r = max(1 - Σ p_i, floor) and s = max(1 - Σ q_i, floor).
 * logits [N·T, V], ids and teacherLog [N·T, k].
 */
export function klTopKPerToken(
  logits: readonly number[],
  ids: readonly number[],
  teacherLog: readonly number[],
  vocabSize: number,
  k: number,
  floor: number,
): number[] {
  const studentLog = logSoftmaxRows(logits, vocabSize);
  const out: number[] = [];
  for (let row = 0; row < logits.length / vocabSize; row++) {
    let kept = 0;
    let teacherMass = 0;
    let studentMass = 0;
    for (let i = 0; i < k; i++) {
      const p = teacherLog[row * k + i] as number;
      const q = studentLog[row * vocabSize + (ids[row * k + i] as number)] as number;
      kept += Math.exp(p) * (p - q);
      teacherMass += Math.exp(p);
      studentMass += Math.exp(q);
    }
    const teacherRest = Math.max(1 - teacherMass, floor);
    const studentRest = Math.max(1 - studentMass, floor);
    out.push(kept + teacherRest * (Math.log(teacherRest) - Math.log(studentRest)));
  }
  return out;
}

/** Returns the k most likely entries of each row of log-probabilities [rows, V], most likely first. */
export function topKRows(logProbabilities: readonly number[], vocabSize: number, k: number): { ids: number[]; logProbabilities: number[] } {
  const ids: number[] = [];
  const kept: number[] = [];
  for (let offset = 0; offset < logProbabilities.length; offset += vocabSize) {
    const row = logProbabilities.slice(offset, offset + vocabSize);
    const order = row.map((_, v) => v).sort((a, b) => (row[b] as number) - (row[a] as number) || a - b);
    for (const v of order.slice(0, k)) {
      ids.push(v);
      kept.push(row[v] as number);
    }
  }
  return { ids, logProbabilities: kept };
}
