/**
 * Token-level losses as graph pieces. Every loss returns the mean over the masked tokens.
 *
 * Legend: N samples, T tokens per sample, V vocabulary, k teacher entries kept per token.
 */

import { type Dim, InvalidArgumentError, ShapeError, type Value, formatShape, ops } from "@lcc/tensor";

/** Smallest probability mass the losses take a logarithm of. */
export const MIN_PROBABILITY = 1e-12;

/** mean over tokens = Σ(loss · mask) / Σ mask, a [1]-shaped value. */
export function maskedMean(perToken: Value, mask: Value): Value {
  const total = ops.reduceSum(ops.mul(perToken, mask), null, false); // []
  const count = ops.max(ops.reduceSum(mask, null, false), 1); // []
  return ops.reshape(ops.div(total, count), [1]); // [1]
}

/** A loss input other than the logits, with the shape and dtype it must have. */
interface ExpectedInput {
  readonly label: string;
  readonly value: Value;
  readonly shape: readonly Dim[];
  readonly dtype: "int64" | "same as logits";
}

/**
 * Checks every input against the logits [N, T, V] and reports all problems at once, so
 * that no mismatch is broadcast silently. Two dimensions agree unless both are numbers
 * and differ, because symbolic dimensions are only known when the graph runs.
 */
function checkInputs(name: string, logits: Value, mask: Value, others: readonly ExpectedInput[]): void {
  if (logits.rank !== 3 || mask.rank !== 2) {
    throw new ShapeError(`${name}: logits must be [N, T, V] and mask [N, T], got ${logits} and ${mask}`);
  }
  const [n, t] = logits.shape as [Dim, Dim, Dim];
  const inputs: ExpectedInput[] = [{ label: "mask", value: mask, shape: [n, t], dtype: "same as logits" }, ...others];

  const shapeProblems: string[] = [];
  const dtypeProblems: string[] = [];
  for (const input of inputs) {
    const agrees =
      input.value.rank === input.shape.length &&
      input.shape.every((dim, axis) => {
        const actual = input.value.shape[axis] as Dim;
        return typeof dim !== "number" || typeof actual !== "number" || dim === actual;
      });
    if (!agrees) shapeProblems.push(`${input.label} ${input.value} must have shape ${formatShape(input.shape)}`);

    const dtype = input.dtype === "int64" ? "int64" : logits.dtype;
    if (input.value.dtype !== dtype) dtypeProblems.push(`${input.label} ${input.value} must be ${dtype}`);
  }

  if (shapeProblems.length > 0) {
    throw new ShapeError(`${name}: inputs do not match logits ${logits}: ${shapeProblems.join("; ")}`);
  }
  if (dtypeProblems.length > 0) {
    throw new InvalidArgumentError(`${name}: inputs do not match logits ${logits}: ${dtypeProblems.join("; ")}`);
  }
}

/** Cross-entropy of gold tokens: -log q(target). logits [N, T, V], targets [N, T] int64, mask [N, T]. */
export function crossEntropy(logits: Value, targets: Value, mask: Value): Value {
  checkInputs("cross-entropy", logits, mask, [
    { label: "targets", value: targets, shape: logits.shape.slice(0, 2), dtype: "int64" },
  ]);
  const logProbabilities = ops.logSoftmax(logits, -1); // [N, T, V]
  const picked = ops.gatherElements(logProbabilities, ops.unsqueeze(targets, [2]), 2); // [N, T, 1]
  return maskedMean(ops.neg(ops.squeeze(picked, [2])), mask); // [1]
}

/**
 * Forward KL(teacher ‖ student) against full teacher distributions:
 * Σ_v p(v) (log p(v) - log q(v)). teacherLogProbabilities [N, T, V], mask [N, T].
 */
export function klFull(logits: Value, teacherLogProbabilities: Value, mask: Value): Value {
  checkInputs("KL", logits, mask, [
    { label: "teacher log-probabilities", value: teacherLogProbabilities, shape: logits.shape, dtype: "same as logits" },
  ]);
  const studentLog = ops.logSoftmax(logits, -1); // [N, T, V]
  const teacher = ops.exp(teacherLogProbabilities); // [N, T, V]
  const perToken = ops.reduceSum(ops.mul(teacher, ops.sub(teacherLogProbabilities, studentLog)), [2], false); // [N, T]
  return maskedMean(perToken, mask); // [1]
}

/**
 * Forward KL against a top-k teacher: the k kept entries plus one bucket for the
 * remaining mass r = 1 - Σ p_i, compared with the student's mass s = 1 - Σ q_i outside
 * those entries: Σ_i p_i (log p_i - log q_i) + r (log r - log s).
 * teacherIds [N, T, k] int64, teacherLogProbabilities [N, T, k], mask [N, T].
 *
 * Both r and s are clamped below at MIN_PROBABILITY, because 1 - Σ p is a rounding error
 * (possibly negative) when the kept entries hold nearly all the mass. With k = V both
 * masses sit at the clamp and the bucket term is exactly 0, so the loss equals klFull up to
 * rounding. The clamp also stops the gradient through s while s is below MIN_PROBABILITY.
 */
export function klTopK(logits: Value, teacherIds: Value, teacherLogProbabilities: Value, mask: Value): Value {
  const k = teacherIds.shape[2] ?? "k";
  checkInputs("top-k KL", logits, mask, [
    { label: "teacher ids", value: teacherIds, shape: [...logits.shape.slice(0, 2), k], dtype: "int64" },
    { label: "teacher log-probabilities", value: teacherLogProbabilities, shape: [...logits.shape.slice(0, 2), k], dtype: "same as logits" },
  ]);
  const vocabularySize = logits.shape[2] as Dim;
  if (typeof k === "number" && typeof vocabularySize === "number" && k > vocabularySize) {
    throw new ShapeError(`top-k KL: the teacher keeps ${k} entries per token, more than the vocabulary of ${vocabularySize}; keep at most ${vocabularySize}`);
  }
  const studentLog = ops.logSoftmax(logits, -1); // [N, T, V]
  const studentKept = ops.gatherElements(studentLog, teacherIds, 2); // [N, T, k]
  const teacher = ops.exp(teacherLogProbabilities); // [N, T, k]
  const kept = ops.reduceSum(ops.mul(teacher, ops.sub(teacherLogProbabilities, studentKept)), [2], false); // [N, T]

  // The bucket of everything outside the kept entries.
  const teacherRest = ops.max(ops.sub(1, ops.reduceSum(teacher, [2], false)), MIN_PROBABILITY); // [N, T]
  const studentRest = ops.max(ops.sub(1, ops.reduceSum(ops.exp(studentKept), [2], false)), MIN_PROBABILITY); // [N, T]
  const rest = ops.mul(teacherRest, ops.sub(ops.log(teacherRest), ops.log(studentRest))); // [N, T]
  return maskedMean(ops.add(kept, rest), mask); // [1]
}
