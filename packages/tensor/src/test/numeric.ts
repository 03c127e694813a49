/**
 * Numeric test helpers: tensor comparison with tolerances, seeded random tensors and a
 * finite-difference gradient checker that runs graphs through onnxruntime.
 */

import { expect } from "vitest";
import type { DType } from "../dtype.js";
import { isFloatDType } from "../dtype.js";
import { addGradientOutputs } from "../grad.js";
import { Graph, type Value } from "../graph.js";
import * as ops from "../ops/index.js";
import { Session } from "../runtime/session.js";
import { Tensor, shapeSize } from "../tensor.js";

// ---------------------------------------------------------------- comparison

export interface Tolerance {
  /** Absolute tolerance. Default 0. */
  readonly atol?: number;
  /** Tolerance relative to the expected value. Default 0. */
  readonly rtol?: number;
}

export interface ExpectedTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly values: ArrayLike<number>;
}

/** Converts the elements of a tensor to numbers (int64 converted, float16 left as bit patterns). */
export function valuesOf(tensor: Tensor): number[] {
  return Array.from(tensor.data as ArrayLike<number | bigint>, Number);
}

/** Formats the multi-index of flat position `flat` in a row-major `shape` as "[i, j, k]". */
function formatIndex(flat: number, shape: readonly number[]): string {
  const index: number[] = [];
  let rest = flat;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const dim = shape[axis] as number;
    index.unshift(rest % dim);
    rest = Math.floor(rest / dim);
  }
  return `[${index.join(", ")}]`;
}

/**
 * Asserts the shape, then the dtype, then every value of `actual` within
 * |actual - expected| <= atol + rtol * |expected|. A failure lists the first mismatching
 * elements and the largest difference. NaN matches only NaN.
 */
export function expectTensorClose(
  actual: Tensor | undefined,
  expected: Tensor | ExpectedTensor,
  tolerance: Tolerance = {},
  label = "tensor",
): void {
  expect(actual, `${label} is missing`).toBeInstanceOf(Tensor);
  const tensor = actual as Tensor;
  const expectedValues = expected instanceof Tensor ? valuesOf(expected) : Array.from(expected.values);
  expect(tensor.shape, `${label} shape`).toEqual([...expected.shape]);
  expect(tensor.dtype, `${label} dtype`).toBe(expected.dtype);

  const atol = tolerance.atol ?? 0;
  const rtol = tolerance.rtol ?? 0;
  const actualValues = valuesOf(tensor);
  const mismatches: string[] = [];
  let mismatchCount = 0;
  let maxDiff = 0;
  let maxAt = 0;
  actualValues.forEach((a, i) => {
    const e = expectedValues[i] as number;
    const diff = Math.abs(a - e);
    const bothNaN = Number.isNaN(a) && Number.isNaN(e);
    if (!bothNaN && (Number.isNaN(diff) || diff > maxDiff)) {
      maxDiff = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
      maxAt = i;
    }
    if (bothNaN || diff <= atol + rtol * Math.abs(e)) return;
    mismatchCount += 1;
    if (mismatches.length < 8) mismatches.push(`  ${formatIndex(i, tensor.shape)}: actual ${a}, expected ${e}, diff ${diff}`);
  });
  if (mismatchCount > 0) {
    throw new Error(
      `${label}: ${mismatchCount} of ${actualValues.length} elements differ (atol ${atol}, rtol ${rtol}); ` +
        `max |diff| ${maxDiff} at ${formatIndex(maxAt, tensor.shape)}. First mismatches:\n${mismatches.join("\n")}`,
    );
  }
}

// ---------------------------------------------------------------- random tensors

/** A seeded pseudo-random generator of floats in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomOptions {
  readonly seed?: number;
  readonly low?: number;
  readonly high?: number;
  readonly dtype?: "float32" | "float64";
}

/** Draws a float64 (or float32) tensor uniformly from [low, high), reproducible from `seed`. */
export function randomTensor(shape: readonly number[], options: RandomOptions = {}): Tensor {
  const random = seededRandom(options.seed ?? 1);
  const low = options.low ?? -1;
  const high = options.high ?? 1;
  const values = Array.from({ length: shapeSize(shape) }, () => low + (high - low) * random());
  return options.dtype === "float32" ? Tensor.float32(shape, values) : Tensor.float64(shape, values);
}

// ---------------------------------------------------------------- finite differences

export interface GradientCheck {
  /** Graph inputs and their values. Inputs of rank > 0 may be declared with symbolic dims through `dims`. */
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** Symbolic dimensions to declare for some inputs, e.g. `{ x: ["B", 3] }`. Default: the value's shape. */
  readonly dims?: Readonly<Record<string, readonly (number | string)[]>>;
  /** The inputs to differentiate. Default: every float input. */
  readonly wrt?: readonly string[];
  /** Builds the function under test; its outputs are folded into one scalar loss. */
  build(graph: Graph, inputs: Readonly<Record<string, Value>>): Value | readonly Value[];
  /** Bound on max|analytic - numeric| / max|numeric| for each input. Default 1e-6. */
  readonly tolerance?: number;
  /** Central-difference step. Default 1e-6. */
  readonly eps?: number;
  /** Inputs whose gradient is expected to be exactly zero everywhere. */
  readonly zeroGradient?: readonly string[];
}

export interface GradientCheckResult {
  readonly graph: Graph;
  readonly loss: number;
  readonly analytic: Readonly<Record<string, Tensor>>;
  readonly numeric: Readonly<Record<string, Float64Array>>;
  /** max|analytic - numeric| / max|numeric| per input. */
  readonly relativeError: Readonly<Record<string, number>>;
}

/**
 * Compares the gradients that `grad` builds with central finite differences.
 *
 * The outputs of `build` are folded into a scalar loss sum_k sum(y_k * w_k) with fixed
 * weights w_k that differ per element, so that a gradient sent to the wrong element or
 * axis changes the result. The loss and the analytic gradients come from one run of the
 * training graph. Each numeric derivative (f(x + eps) - f(x - eps)) / 2 eps takes two
 * more runs of the same session.
 */
export async function checkGradients(check: GradientCheck): Promise<GradientCheckResult> {
  const graph = new Graph("gradient_check");
  const values: Record<string, Value> = {};
  for (const [name, tensor] of Object.entries(check.inputs)) {
    values[name] = graph.input(name, tensor.dtype, check.dims?.[name] ?? tensor.shape);
  }
  const built = check.build(graph, values);
  const outputs = Array.isArray(built) ? (built as readonly Value[]) : [built as Value];
  const loss = weightedLoss(graph, outputs);
  const wrtNames = check.wrt ?? Object.keys(check.inputs).filter((name) => isFloatDType((check.inputs[name] as Tensor).dtype));
  const wrt = wrtNames.map((name) => values[name] as Value);
  const marked = addGradientOutputs(graph, loss, wrt);

  const session = await Session.create(graph, { cacheDir: null, threads: 1 });
  try {
    const lossName = marked.loss.name;
    const first = await session.run(check.inputs);
    const analytic: Record<string, Tensor> = {};
    wrtNames.forEach((name, i) => {
      analytic[name] = first[(marked.gradients[i] as Value).name] as Tensor;
    });

    const eps = check.eps ?? 1e-6;
    const tolerance = check.tolerance ?? 1e-6;
    const numeric: Record<string, Float64Array> = {};
    const relativeError: Record<string, number> = {};
    for (const name of wrtNames) {
      const input = check.inputs[name] as Tensor;
      const gradient = analytic[name] as Tensor;
      expect(gradient.shape, `gradient of ${name}: shape`).toEqual(input.shape);
      expect(gradient.dtype, `gradient of ${name}: dtype`).toBe(input.dtype);

      const derivatives = new Float64Array(input.size);
      for (let j = 0; j < input.size; j++) {
        const plus = perturbed(input, j, eps);
        const minus = perturbed(input, j, -eps);
        const fPlus = await runLoss(session, check.inputs, name, plus.tensor, lossName);
        const fMinus = await runLoss(session, check.inputs, name, minus.tensor, lossName);
        derivatives[j] = (fPlus - fMinus) / (plus.value - minus.value);
      }
      numeric[name] = derivatives;
      relativeError[name] = compareGradient(name, gradient, derivatives, tolerance, check.zeroGradient?.includes(name) ?? false);
    }
    const lossValue = valuesOf(first[lossName] as Tensor)[0] as number;
    return { graph, loss: lossValue, analytic, numeric, relativeError };
  } finally {
    await session.dispose();
  }
}

/** sum_k sum(y_k * w_k) in float64, with per-element weights that differ from each other. */
function weightedLoss(graph: Graph, outputs: readonly Value[]): Value {
  let total: Value | null = null;
  outputs.forEach((output, k) => {
    const y = ops.cast(output, "float64");
    const shape = y.shape;
    let weights: Value;
    if (shape.every((d) => typeof d === "number")) {
      weights = graph.constant(randomTensor(shape as number[], { seed: 1000 + k, low: 0.5, high: 1.5 }), "weights");
    } else {
      // Symbolic shape: weights 1 + 0.5 * cos(0.7 * i + k) over the flat index i.
      const count = ops.cast(ops.size(y), "float64");
      const flat = ops.range(graph.scalar(0, "float64"), count, graph.scalar(1, "float64"));
      const pattern = ops.add(ops.mul(ops.cos(ops.add(ops.mul(flat, 0.7), k)), 0.5), 1);
      weights = ops.reshape(pattern, ops.shapeOf(y));
    }
    const term = ops.reduceSum(ops.mul(y, weights), null, false);
    total = total === null ? term : ops.add(total, term);
  });
  if (total === null) throw new Error("the function under test returned no outputs");
  return total;
}

/** Copies `tensor` with element j moved by `delta`, and returns the moved value as stored. */
function perturbed(tensor: Tensor, j: number, delta: number): { tensor: Tensor; value: number } {
  const data = (tensor.data as Float32Array | Float64Array).slice();
  data[j] = (data[j] as number) + delta;
  return { tensor: new Tensor(tensor.dtype, tensor.shape, data), value: data[j] as number };
}

async function runLoss(
  session: Session,
  feeds: Readonly<Record<string, Tensor>>,
  name: string,
  value: Tensor,
  lossName: string,
): Promise<number> {
  const result = await session.run({ ...feeds, [name]: value }, [lossName]);
  return valuesOf(result[lossName] as Tensor)[0] as number;
}

/** Checks one gradient against its numeric estimate and returns the relative error. */
function compareGradient(name: string, analytic: Tensor, numeric: Float64Array, tolerance: number, zeroExpected: boolean): number {
  const actual = valuesOf(analytic);
  let scale = 0;
  for (const n of numeric) scale = Math.max(scale, Math.abs(n));
  if (zeroExpected) {
    expectTensorClose(
      analytic,
      { dtype: analytic.dtype, shape: analytic.shape, values: new Array(actual.length).fill(0) },
      {},
      `gradient of ${name}`,
    );
    return 0;
  }
  if (scale === 0) throw new Error(`gradient of ${name}: the numeric gradient is zero everywhere, so the check proves nothing`);

  let maxDiff = 0;
  actual.forEach((a, i) => {
    const diff = Math.abs(a - (numeric[i] as number));
    maxDiff = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : Math.max(maxDiff, diff);
  });
  const relative = maxDiff / scale;
  if (!(relative <= tolerance)) {
    // Reuse the element-wise report to show where analytic and numeric gradients part.
    expectTensorClose(
      analytic,
      { dtype: analytic.dtype, shape: analytic.shape, values: numeric },
      { atol: tolerance * scale },
      `gradient of ${name}`,
    );
  }
  return relative;
}
