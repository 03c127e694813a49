import { Graph, InvalidArgumentError, ShapeError, Tensor, type Value } from "@lcc/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  crossEntropyPerToken,
  klFullPerToken,
  klTopKPerToken,
  logSoftmaxRows,
  maskedMeanReference,
  topKRows,
  uniformValues,
} from "./test/reference.js";
import { type LossBuilder, type LossRunner, createLossRunner, finiteDifferences, relativeDifference } from "./test/run-loss.js";
import { MIN_PROBABILITY, crossEntropy, klFull, klTopK, maskedMean } from "./token-losses.js";

// Legend: N samples, T tokens per sample, V vocabulary, k teacher entries kept per token.
const N = 2;
const T = 3;
const V = 7;
const K = 3;

const LOGITS = uniformValues(N * T * V, 11); // [N, T, V]
const TEACHER_LOG = logSoftmaxRows(uniformValues(N * T * V, 12), V); // [N, T, V]
const TEACHER_TOP = topKRows(TEACHER_LOG, V, K); // [N, T, k] each
const MASK = [1, 1, 0, 0, 1, 1]; // [N, T], 4 answer tokens
const TARGETS = [3, 0, 6, 2, 5, 1]; // [N, T]

const feeds = {
  logits: Tensor.float64([N, T, V], LOGITS),
  mask: Tensor.float64([N, T], MASK),
  targets: Tensor.int64([N, T], TARGETS),
  teacherLog: Tensor.float64([N, T, V], TEACHER_LOG),
  topIds: Tensor.int64([N, T, K], TEACHER_TOP.ids),
  topLog: Tensor.float64([N, T, K], TEACHER_TOP.logProbabilities),
};
type FeedName = keyof typeof feeds;

/** Feeds only the inputs a builder reads, because a session rejects unexpected inputs. */
function pick(...names: FeedName[]): Record<string, Tensor> {
  return Object.fromEntries(names.map((name) => [name, feeds[name]]));
}

const buildCrossEntropy: LossBuilder = (x) => crossEntropy(x.logits as Value, x.targets as Value, x.mask as Value);
const buildKlFull: LossBuilder = (x) => klFull(x.logits as Value, x.teacherLog as Value, x.mask as Value);
const buildKlTopK: LossBuilder = (x) => klTopK(x.logits as Value, x.topIds as Value, x.topLog as Value, x.mask as Value);

const cases = [
  {
    name: "crossEntropy",
    feedNames: ["logits", "targets", "mask"] as FeedName[],
    build: buildCrossEntropy,
    perToken: () => crossEntropyPerToken(LOGITS, TARGETS, V),
  },
  {
    name: "klFull",
    feedNames: ["logits", "teacherLog", "mask"] as FeedName[],
    build: buildKlFull,
    perToken: () => klFullPerToken(LOGITS, TEACHER_LOG, V),
  },
  {
    name: "klTopK",
    feedNames: ["logits", "topIds", "topLog", "mask"] as FeedName[],
    build: buildKlTopK,
    perToken: () => klTopKPerToken(LOGITS, TEACHER_TOP.ids, TEACHER_TOP.logProbabilities, V, K, MIN_PROBABILITY),
  },
];

/** Logits with every masked-out row replaced by other random values. */
function logitsWithMaskedRowsChanged(): Tensor {
  const changed = LOGITS.slice();
  const noise = uniformValues(LOGITS.length, 99, -5, 5);
  MASK.forEach((m, row) => {
    if (m === 0) for (let v = 0; v < V; v++) changed[row * V + v] = noise[row * V + v] as number;
  });
  return Tensor.float64([N, T, V], changed);
}

describe.each(cases)("$name", ({ feedNames, build, perToken }) => {
  let runner: LossRunner;
  const lossFeeds = pick(...feedNames);

  beforeAll(async () => {
    runner = await createLossRunner(lossFeeds, build, "logits");
  });
  afterAll(async () => {
    await runner.dispose();
  });

  it("value matches the float64 reference", async () => {
    const expected = maskedMeanReference(perToken(), MASK);
    const actual = await runner.value();
    expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-12 * Math.abs(expected));
    expect(expected).toBeGreaterThan(0.01);
  });

  it("gradient matches finite differences", async () => {
    const analytic = await runner.gradient();
    const numeric = await finiteDifferences(runner, lossFeeds, "logits");
    const { relative, report } = relativeDifference(analytic, numeric, 1e-6);
    expect(relative, report).toBeLessThanOrEqual(1e-6);
  });

  it("masked positions do not change the value", async () => {
    const changed = logitsWithMaskedRowsChanged();
    expect(changed.data).not.toEqual(feeds.logits.data);
    expect(await runner.value({ logits: changed })).toBe(await runner.value());
  });

  it("masked positions get zero gradient", async () => {
    const gradient = await runner.gradient();
    MASK.forEach((m, row) => {
      const rowGradient = Array.from(gradient.subarray(row * V, (row + 1) * V));
      if (m === 0) expect(rowGradient, `row ${row}`).toEqual(new Array(V).fill(0));
      else expect(rowGradient.some((g) => g !== 0), `row ${row}`).toBe(true);
    });
  });
});

describe("maskedMean", () => {
  const perTokenValues = [0.5, -1.25, 2, 4, 0.75, 3]; // [N, T]
  const buildMean: LossBuilder = (x) => maskedMean(x.perToken as Value, x.mask as Value);

  async function meanOf(mask: number[]): Promise<number> {
    const meanFeeds = { perToken: Tensor.float64([N, T], perTokenValues), mask: Tensor.float64([N, T], mask) };
    const runner = await createLossRunner(meanFeeds, buildMean, "perToken");
    try {
      return await runner.value();
    } finally {
      await runner.dispose();
    }
  }

  it("divides by the mask count", async () => {
    // (0.5 - 1.25 + 0.75 + 3) / 4 = 0.75, where a mean over all N·T tokens would give 0.5.
    const actual = await meanOf(MASK);
    expect(actual).toBe(0.75);
    expect(actual).toBe(maskedMeanReference(perTokenValues, MASK));
  });

  it("all-ones mask gives the plain mean", async () => {
    expect(await meanOf([1, 1, 1, 1, 1, 1])).toBeCloseTo(9 / 6, 15);
  });

  it("all-zero mask gives zero", async () => {
    expect(await meanOf([0, 0, 0, 0, 0, 0])).toBe(0);
  });

  it("returns a [1]-shaped value", () => {
    const graph = new Graph();
    const mean = maskedMean(graph.input("perToken", "float64", [N, T]), graph.input("mask", "float64", [N, T]));
    expect(mean.shape).toEqual([1]);
    expect(mean.dtype).toBe("float64");
  });
});

describe("KL properties", () => {
  it("KL of identical distributions is zero", async () => {
    const studentLog = Tensor.float64([N, T, V], logSoftmaxRows(LOGITS, V));
    const runner = await createLossRunner({ ...pick("logits", "mask"), teacherLog: studentLog }, buildKlFull, "logits");
    try {
      expect(Math.abs(await runner.value())).toBeLessThanOrEqual(1e-15);
      const gradient = await runner.gradient();
      expect(Math.max(...gradient.map(Math.abs))).toBeLessThanOrEqual(1e-15);
    } finally {
      await runner.dispose();
    }
  });

  it("top-k KL of identical distributions is zero", async () => {
    const own = topKRows(logSoftmaxRows(LOGITS, V), V, K);
    const topFeeds = {
      ...pick("logits", "mask"),
      topIds: Tensor.int64([N, T, K], own.ids),
      topLog: Tensor.float64([N, T, K], own.logProbabilities),
    };
    const runner = await createLossRunner(topFeeds, buildKlTopK, "logits");
    try {
      expect(Math.abs(await runner.value())).toBeLessThanOrEqual(1e-15);
    } finally {
      await runner.dispose();
    }
  });

  it("top-k KL with k = V equals full KL", async () => {
    // Every entry is kept, so both remaining masses fall to the MIN_PROBABILITY floor and
    // the bucket term is floor · (log floor - log floor) = 0.
    const all = topKRows(TEACHER_LOG, V, V);
    const topFeeds = {
      ...pick("logits", "mask"),
      topIds: Tensor.int64([N, T, V], all.ids),
      topLog: Tensor.float64([N, T, V], all.logProbabilities),
    };
    const full = await createLossRunner(pick("logits", "teacherLog", "mask"), buildKlFull, "logits");
    const topK = await createLossRunner(topFeeds, buildKlTopK, "logits");
    try {
      const fullValue = await full.value();
      const topValue = await topK.value();
      expect(Math.abs(topValue - fullValue)).toBeLessThanOrEqual(1e-9 * fullValue);

      const { relative, report } = relativeDifference(await topK.gradient(), await full.gradient(), 1e-9);
      expect(relative, report).toBeLessThanOrEqual(1e-9);
    } finally {
      await full.dispose();
      await topK.dispose();
    }
  });

  it("top-k KL stays finite when kept mass exceeds 1", async () => {
    // Each kept log-probability is raised by 1e-10, so 1 - Σ p is about -7e-10 and its
    // logarithm would be NaN without the MIN_PROBABILITY clamp. With the clamp, both
    // remaining masses are the floor and the loss equals the full KL of the same teacher.
    const raised = TEACHER_LOG.map((value) => value + 1e-10);
    const all = topKRows(raised, V, V);
    const topFeeds = {
      ...pick("logits", "mask"),
      topIds: Tensor.int64([N, T, V], all.ids),
      topLog: Tensor.float64([N, T, V], all.logProbabilities),
    };
    const fullFeeds = { ...pick("logits", "mask"), teacherLog: Tensor.float64([N, T, V], raised) };
    const full = await createLossRunner(fullFeeds, buildKlFull, "logits");
    const topK = await createLossRunner(topFeeds, buildKlTopK, "logits");
    try {
      const topValue = await topK.value();
      expect(Number.isFinite(topValue)).toBe(true);
      expect(Math.abs(topValue - (await full.value()))).toBeLessThanOrEqual(1e-12);
      expect((await topK.gradient()).every(Number.isFinite)).toBe(true);
    } finally {
      await full.dispose();
      await topK.dispose();
    }
  });

  it("top-k KL counts the remaining mass", async () => {
    // Keeping fewer entries than V must differ from dropping the bucket altogether.
    const kept = klTopKPerToken(LOGITS, TEACHER_TOP.ids, TEACHER_TOP.logProbabilities, V, K, MIN_PROBABILITY);
    const keptOnly = klTopKPerToken(LOGITS, TEACHER_TOP.ids, TEACHER_TOP.logProbabilities, V, K, 1);
    const runner = await createLossRunner(pick("logits", "topIds", "topLog", "mask"), buildKlTopK, "logits");
    try {
      const actual = await runner.value();
      expect(Math.abs(actual - maskedMeanReference(kept, MASK))).toBeLessThanOrEqual(1e-12 * actual);
      expect(Math.abs(actual - maskedMeanReference(keptOnly, MASK))).toBeGreaterThan(1e-3);
    } finally {
      await runner.dispose();
    }
  });
});

describe("shape checks", () => {
  function values(shapes: Record<string, readonly number[]>, int64: string[] = []): Record<string, Value> {
    const graph = new Graph();
    return Object.fromEntries(
      Object.entries(shapes).map(([name, shape]) => [name, graph.input(name, int64.includes(name) ? "int64" : "float64", shape)]),
    );
  }

  it("rejects logits of rank 2", () => {
    const x = values({ logits: [T, V], targets: [N, T], mask: [N, T] }, ["targets"]);
    expect(() => crossEntropy(x.logits as Value, x.targets as Value, x.mask as Value)).toThrow(ShapeError);
    expect(() => crossEntropy(x.logits as Value, x.targets as Value, x.mask as Value)).toThrow(/cross-entropy: logits must be \[N, T, V\]/);
  });

  it("rejects a mask that does not match the logits", () => {
    const x = values({ logits: [N, T, V], teacherLog: [N, T, V], mask: [1, T] });
    expect(() => klFull(x.logits as Value, x.teacherLog as Value, x.mask as Value)).toThrow(ShapeError);
    expect(() => klFull(x.logits as Value, x.teacherLog as Value, x.mask as Value)).toThrow(/mask .*\[1, 3\].*\[2, 3\]/);
  });

  it("rejects a full teacher with another vocabulary", () => {
    const x = values({ logits: [N, T, V], teacherLog: [N, T, V + 1], mask: [N, T] });
    expect(() => klFull(x.logits as Value, x.teacherLog as Value, x.mask as Value)).toThrow(ShapeError);
    expect(() => klFull(x.logits as Value, x.teacherLog as Value, x.mask as Value)).toThrow(/teacher log-probabilities/);
  });

  it("rejects top-k ids and log-probabilities of different shapes", () => {
    const x = values({ logits: [N, T, V], ids: [N, T, K], teacherLog: [N, T, K + 1], mask: [N, T] }, ["ids"]);
    expect(() => klTopK(x.logits as Value, x.ids as Value, x.teacherLog as Value, x.mask as Value)).toThrow(ShapeError);
  });

  it("rejects more kept entries than the vocabulary", () => {
    const x = values({ logits: [N, T, V], ids: [N, T, V + 1], teacherLog: [N, T, V + 1], mask: [N, T] }, ["ids"]);
    expect(() => klTopK(x.logits as Value, x.ids as Value, x.teacherLog as Value, x.mask as Value)).toThrow(/more than the vocabulary/);
  });

  it("rejects targets that do not match the logits", () => {
    const x = values({ logits: [N, T, V], targets: [N, T + 1], mask: [N, T] }, ["targets"]);
    expect(() => crossEntropy(x.logits as Value, x.targets as Value, x.mask as Value)).toThrow(ShapeError);
  });

  it("accepts symbolic dimensions", () => {
    const graph = new Graph();
    const logits = graph.input("logits", "float64", ["N", "T", V]);
    const mask = graph.input("mask", "float64", ["N", "T"]);
    const targets = graph.input("targets", "int64", ["N", "T"]);
    expect(crossEntropy(logits, targets, mask).shape).toEqual([1]);
  });

  it("rejects a mask of another dtype", () => {
    const graph = new Graph();
    const logits = graph.input("logits", "float64", [N, T, V]);
    const mask = graph.input("mask", "float32", [N, T]);
    const targets = graph.input("targets", "int64", [N, T]);
    expect(() => crossEntropy(logits, targets, mask)).toThrow(InvalidArgumentError);
  });
});
