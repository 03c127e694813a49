/**
 * Test helpers that build a loss into a float64 graph, run it with onnxruntime and compare
 * its gradient with central finite differences.
 */

import { Graph, Session, Tensor, type Value, addGradientOutputs } from "@lcc/tensor";

/** Builds the loss under test from the graph inputs, one per feed and with the feed's dtype and shape. */
export type LossBuilder = (inputs: Readonly<Record<string, Value>>) => Value;

/** A loss graph with an open session; call `dispose` when done. */
export interface LossRunner {
  /** Runs the loss on the runner's feeds with `overrides` replacing some of them. */
  value(overrides?: Readonly<Record<string, Tensor>>): Promise<number>;
  /** The gradient of the loss with respect to the input `wrt`, built by `addGradientOutputs`. */
  gradient(overrides?: Readonly<Record<string, Tensor>>): Promise<Float64Array>;
  dispose(): Promise<void>;
}

/** Creates a session for the loss that `build` makes from `feeds`, with its gradient with respect to `wrt`. */
export async function createLossRunner(feeds: Readonly<Record<string, Tensor>>, build: LossBuilder, wrt: string): Promise<LossRunner> {
  const graph = new Graph("loss_under_test");
  const inputs: Record<string, Value> = {};
  for (const [name, tensor] of Object.entries(feeds)) inputs[name] = graph.input(name, tensor.dtype, tensor.shape);
  const loss = build(inputs);
  if (loss.dtype !== "float64") throw new Error(`the loss under test must be float64, got ${loss}`);

  const target = inputs[wrt];
  if (target === undefined) throw new Error(`no input named "${wrt}" to differentiate`);
  const marked = addGradientOutputs(graph, loss, [target]);
  const lossName = marked.loss.name;
  const gradientName = (marked.gradients[0] as Value).name;
  const session = await Session.create(graph, { cacheDir: null, threads: 1 });

  return {
    async value(overrides = {}) {
      const result = await session.run({ ...feeds, ...overrides }, [lossName]);
      return Number((result[lossName] as Tensor).data[0]);
    },
    async gradient(overrides = {}) {
      const result = await session.run({ ...feeds, ...overrides }, [gradientName]);
      return Float64Array.from((result[gradientName] as Tensor).data as Float64Array);
    },
    dispose: () => session.dispose(),
  };
}

/** Central differences (f(x + eps) - f(x - eps)) / 2 eps of the loss for every element of input `name`. */
export async function finiteDifferences(runner: LossRunner, feeds: Readonly<Record<string, Tensor>>, name: string, eps = 1e-6): Promise<Float64Array> {
  const input = feeds[name] as Tensor;
  const base = input.data as Float64Array;
  const derivatives = new Float64Array(input.size);
  for (let j = 0; j < input.size; j++) {
    const plus = base.slice();
    const minus = base.slice();
    plus[j] = (base[j] as number) + eps;
    minus[j] = (base[j] as number) - eps;
    const fPlus = await runner.value({ [name]: Tensor.float64(input.shape, plus) });
    const fMinus = await runner.value({ [name]: Tensor.float64(input.shape, minus) });
    derivatives[j] = (fPlus - fMinus) / ((plus[j] as number) - (minus[j] as number));
  }
  return derivatives;
}

/** max |actual - expected| / max |expected|, with the first elements that differ by more than `tolerance` of that scale. */
export function relativeDifference(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): { relative: number; report: string } {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i] as number));
  let maxDiff = 0;
  const mismatches: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs((actual[i] as number) - (expected[i] as number));
    maxDiff = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : Math.max(maxDiff, diff);
    if (!(diff <= tolerance * scale) && mismatches.length < 6) {
      mismatches.push(`[${i}] actual ${actual[i]}, expected ${expected[i]}`);
    }
  }
  const relative = scale === 0 ? Number.POSITIVE_INFINITY : maxDiff / scale;
  return { relative, report: `max |diff| ${maxDiff} over scale ${scale}; ${mismatches.join("; ") || "no element beyond tolerance"}` };
}
