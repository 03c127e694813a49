import { Graph, InvalidArgumentError, Tensor, type Value, ops } from "@lcc/tensor";
import { describe, expect, it } from "vitest";
import { type LossDefinition, type LossInputs, getLoss, listLosses, registerLoss } from "./registry.js";
import { crossEntropyPerToken, klFullPerToken, klTopKPerToken, logSoftmaxRows, maskedMeanReference, topKRows, uniformValues } from "./test/reference.js";
import { createLossRunner } from "./test/run-loss.js";
import { MIN_PROBABILITY } from "./token-losses.js";

// Legend: N samples, T tokens per sample, V vocabulary, k teacher entries kept per token.
const N = 2;
const T = 3;
const V = 7;
const K = 4;

const LOGITS = uniformValues(N * T * V, 21); // [N, T, V]
const TEACHER_LOG = logSoftmaxRows(uniformValues(N * T * V, 22), V); // [N, T, V]
const TEACHER_TOP = topKRows(TEACHER_LOG, V, K); // [N, T, k] each
const MASK = [0, 1, 1, 1, 1, 0]; // [N, T]
const GOLD = [6, 1, 4, 0, 3, 2]; // [N, T]

/** Builds a valid definition named `name`, with `fields` replacing some of its fields. */
function definition(name: string, fields: Partial<Record<keyof LossDefinition, unknown>> = {}): LossDefinition {
  return {
    name,
    description: "test loss",
    needsTeacher: false,
    build: (inputs: LossInputs) => ops.reduceSum(inputs.logits, null, true),
    ...fields,
  } as LossDefinition;
}

/** Runs a registered loss on the fixture and returns its value. */
async function runRegistered(name: string, teacher: "full" | "top-k" | null): Promise<number> {
  const feeds: Record<string, Tensor> = {
    logits: Tensor.float64([N, T, V], LOGITS),
    goldIds: Tensor.int64([N, T], GOLD),
    mask: Tensor.float64([N, T], MASK),
  };
  if (teacher === "full") feeds.teacherLog = Tensor.float64([N, T, V], TEACHER_LOG);
  if (teacher === "top-k") {
    feeds.topIds = Tensor.int64([N, T, K], TEACHER_TOP.ids);
    feeds.topLog = Tensor.float64([N, T, K], TEACHER_TOP.logProbabilities);
  }
  const runner = await createLossRunner(
    feeds,
    (x) =>
      getLoss(name).build({
        logits: x.logits as Value,
        goldIds: x.goldIds as Value,
        mask: x.mask as Value,
        teacher:
          teacher === "full"
            ? { kind: "full", logProbabilities: x.teacherLog as Value }
            : teacher === "top-k"
              ? { kind: "top-k", ids: x.topIds as Value, logProbabilities: x.topLog as Value }
              : null,
      }),
    "logits",
  );
  try {
    return await runner.value();
  } finally {
    await runner.dispose();
  }
}

describe("built-in losses", () => {
  it("lists kl and ce first", () => {
    expect(listLosses().map((loss) => loss.name).slice(0, 2)).toEqual(["kl", "ce"]);
  });

  it("kl needs a teacher and ce does not", () => {
    expect(getLoss("kl").needsTeacher).toBe(true);
    expect(getLoss("ce").needsTeacher).toBe(false);
  });

  it("kl with a full teacher matches the reference", async () => {
    const expected = maskedMeanReference(klFullPerToken(LOGITS, TEACHER_LOG, V), MASK);
    const actual = await runRegistered("kl", "full");
    expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-12 * expected);
  });

  it("kl with a top-k teacher matches the reference", async () => {
    const perToken = klTopKPerToken(LOGITS, TEACHER_TOP.ids, TEACHER_TOP.logProbabilities, V, K, MIN_PROBABILITY);
    const expected = maskedMeanReference(perToken, MASK);
    const actual = await runRegistered("kl", "top-k");
    expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-12 * expected);
  });

  it("ce matches the reference", async () => {
    const expected = maskedMeanReference(crossEntropyPerToken(LOGITS, GOLD, V), MASK);
    const actual = await runRegistered("ce", null);
    expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-12 * expected);
  });

  it("kl without a teacher is rejected", () => {
    const graph = new Graph();
    const inputs: LossInputs = {
      logits: graph.input("logits", "float64", [N, T, V]),
      goldIds: graph.input("goldIds", "int64", [N, T]),
      mask: graph.input("mask", "float64", [N, T]),
      teacher: null,
    };
    expect(() => getLoss("kl").build(inputs)).toThrow(InvalidArgumentError);
    expect(() => getLoss("kl").build(inputs)).toThrow(/loss "kl" needs teacher distributions/);
  });
});

describe("registerLoss and getLoss", () => {
  it("unknown name lists the registered losses", () => {
    expect(() => getLoss("klx")).toThrow(InvalidArgumentError);
    expect(() => getLoss("klx")).toThrow(/unknown loss "klx"; registered losses: "kl", "ce"/);
  });

  it("unknown name lists losses added later", () => {
    registerLoss(definition("listed-later"));
    expect(() => getLoss("missing")).toThrow(/registered losses: .*"listed-later"/);
  });

  it("returns a custom loss", () => {
    const custom = definition("sum-of-logits", { description: "Σ logits", needsTeacher: true });
    registerLoss(custom);
    expect(getLoss("sum-of-logits")).toBe(custom);
    expect(listLosses()).toContain(custom);
  });

  it("custom loss builds a runnable graph", async () => {
    registerLoss(definition("first-logit", { build: (inputs: LossInputs) => ops.reshape(ops.slice(ops.reshape(inputs.logits, [-1]), [0], [1], [0]), [1]) }));
    const runner = await createLossRunner(
      { logits: Tensor.float64([N, T, V], LOGITS), goldIds: Tensor.int64([N, T], GOLD), mask: Tensor.float64([N, T], MASK) },
      (x) => getLoss("first-logit").build({ logits: x.logits as Value, goldIds: x.goldIds as Value, mask: x.mask as Value, teacher: null }),
      "logits",
    );
    try {
      expect(await runner.value()).toBe(LOGITS[0]);
    } finally {
      await runner.dispose();
    }
  });

  it("rejects a duplicate name", () => {
    const original = getLoss("ce");
    expect(() => registerLoss(definition("ce"))).toThrow(InvalidArgumentError);
    expect(() => registerLoss(definition("ce"))).toThrow(/a loss named "ce" is already registered/);
    expect(getLoss("ce")).toBe(original);
  });

  it.each(["", "KL", "Kl", "1kl", "-kl", "kl-", "top--k", "top_k", "top k", "kl.v2", "ké"])("rejects the name %j", (name) => {
    expect(() => registerLoss(definition(name))).toThrow(InvalidArgumentError);
    expect(() => registerLoss(definition(name))).toThrow(/name must be lowercase words/);
    expect(listLosses().some((loss) => loss.name === name)).toBe(false);
  });

  it("rejects a non-string name", () => {
    expect(() => registerLoss(definition("x", { name: 42 }))).toThrow(/got 42/);
  });

  it("accepts hyphenated names with digits", () => {
    registerLoss(definition("top-k2-kl"));
    expect(getLoss("top-k2-kl").name).toBe("top-k2-kl");
  });

  it("lists every problem of a definition at once", () => {
    const broken = definition("Bad", { description: 3, needsTeacher: "yes", build: null });
    expect(() => registerLoss(broken)).toThrow(InvalidArgumentError);
    let message = "";
    try {
      registerLoss(broken);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/name must be lowercase words/);
    expect(message).toMatch(/description must be a string/);
    expect(message).toMatch(/needsTeacher must be true or false/);
    expect(message).toMatch(/build must be a function/);
  });

  it("rejects a missing definition", () => {
    expect(() => registerLoss(undefined as unknown as LossDefinition)).toThrow(/expects a loss definition object, got undefined/);
  });
});
