/**
 * Reverse-mode differentiation of builder graphs.
 *
 * `grad` appends the backward part to the graph it differentiates, so one onnxruntime
 * session computes the loss and its gradients together. This walker owns every rule
 * that is not specific to one operator:
 *   - order: nodes are visited in reverse topological order, and only the nodes on a
 *     path from a `wrt` value to the loss are differentiated;
 *   - accumulation: a value with several consumers gets the sum of their gradients;
 *   - broadcasting: a gradient with the broadcast output shape is summed back to the
 *     shape of the input it belongs to;
 *   - stop-gradient: nothing flows through `ops.stopGradient`;
 *   - a node without a vector-Jacobian rule raises MissingGradientError.
 * The rule of each operator sits beside its definition in `ops/`.
 */

import { isFloatDType } from "./dtype.js";
import { GraphError, InvalidArgumentError, MissingGradientError } from "./errors.js";
import { Graph, type Node, Value, type VjpContext } from "./graph.js";
import { castTensor } from "./half.js";
import { StopGradient, add } from "./ops/elementwise.js";
import { reshapeLike } from "./ops/grad-helpers.js";
import { reduceSum } from "./ops/linalg.js";
import { zerosLike } from "./ops/shape.js";
import { Tensor, formatShape, shapeSize } from "./tensor.js";

export interface GradOptions {
  /**
   * Gradient of the loss itself: a value with the loss's dtype and shape. With a seed
   * the loss may have any shape, and `grad` returns the vector-Jacobian product
   * seedᵀ·∂loss/∂wrt. Default: a constant 1, which needs a single-element loss.
   */
  readonly seed?: Value;
}

/** The outputs that `addGradientOutputs` marks on a graph. */
export interface GradientOutputs {
  /** The loss as a graph output. */
  readonly loss: Value;
  /** One gradient output per `wrt` value, in order. */
  readonly gradients: Value[];
}

/**
 * Appends the backward part of `graph` and returns ∂loss/∂w for each w in `wrt`.
 *
 * The loss must hold exactly one element (rank 0, or every dimension a literal 1) unless
 * `options.seed` is given. Each gradient has the dtype and shape of its `wrt` value. A
 * `wrt` value that the loss does not depend on gets zeros. Only float values carry
 * gradients, and initializers or inputs outside `wrt` get no backward work.
 */
export function grad(graph: Graph, loss: Value, wrt: readonly Value[], options: GradOptions = {}): Value[] {
  validateArguments(graph, loss, wrt, options);
  const forwardNodes = graph.nodes.slice();

  // Step 1: the active values depend on some wrt value and lead to the loss.
  const active = activeValues(forwardNodes, loss, wrt);

  // Step 2: visit the nodes between wrt and the loss from the loss backwards. Every
  // consumer of a value comes later in `graph.nodes`, so by the time a node is visited
  // the gradients of its outputs are complete.
  const contributions = new Map<Value, Value[]>();
  if (active.has(loss)) contributions.set(loss, [options.seed ?? onesLike(graph, loss)]);
  for (let n = forwardNodes.length - 1; n >= 0; n--) {
    const node = forwardNodes[n] as Node;
    const hasActiveInput = node.inputs.some((v) => v !== null && active.has(v));
    const hasActiveOutput = node.outputs.some((v) => active.has(v));
    if (!hasActiveInput || !hasActiveOutput) continue;

    const doutputs = node.outputs.map((output) => accumulate(contributions, output));
    if (doutputs.every((d) => d === null)) continue;
    const dinputs = applyRule(graph, node, doutputs, active);
    node.inputs.forEach((input, i) => {
      const dinput = dinputs[i];
      if (input === null || dinput === null || dinput === undefined || !active.has(input)) return;
      pushContribution(contributions, input, sumToShape(dinput, input, node));
    });
  }

  // Step 3: one gradient per wrt value, zeros where the loss does not depend on it.
  return wrt.map((w) => accumulate(contributions, w) ?? zerosLike(w));
}

/**
 * Differentiates `loss` with respect to `wrt` and marks the loss and the gradients as
 * graph outputs, so that one run returns all of them.
 *
 * Gradient outputs are named `names[i]`, by default `d` followed by the name of the wrt
 * value ("dlora_a_0" for "lora_a_0"). The loss keeps its name unless it is a graph input
 * or already an output.
 */
export function addGradientOutputs(
  graph: Graph,
  loss: Value,
  wrt: readonly Value[],
  names?: readonly string[],
  options: GradOptions = {},
): GradientOutputs {
  if (!Array.isArray(wrt)) throw new InvalidArgumentError(`addGradientOutputs: wrt must be an array of values, got ${String(wrt)}`);
  const outputNames = names ?? wrt.map((w) => `d${w instanceof Value ? w.name : "?"}`);
  if (outputNames.length !== wrt.length) {
    throw new InvalidArgumentError(
      `addGradientOutputs: got ${outputNames.length} names for ${wrt.length} wrt values; pass one name per wrt value`,
    );
  }
  const repeated = outputNames.filter((name, i) => outputNames.indexOf(name) !== i);
  if (repeated.length > 0) {
    throw new InvalidArgumentError(
      `addGradientOutputs: gradient output names must be unique, but ${[...new Set(repeated)].join(", ")} repeat`,
    );
  }

  const gradients = grad(graph, loss, wrt, options);
  const lossOutput = graph.outputs.includes(loss) ? loss : graph.output(loss);
  return { loss: lossOutput, gradients: gradients.map((g, i) => graph.output(g, outputNames[i])) };
}

// ---------------------------------------------------------------- argument checks

function validateArguments(graph: Graph, loss: Value, wrt: readonly Value[], options: GradOptions): void {
  if (!(graph instanceof Graph)) throw new InvalidArgumentError(`grad: graph must be a Graph, got ${String(graph)}`);
  if (!(loss instanceof Value)) throw new InvalidArgumentError(`grad: loss must be a graph Value, got ${String(loss)}`);
  if (!Array.isArray(wrt)) throw new InvalidArgumentError(`grad: wrt must be an array of graph values, got ${String(wrt)}`);

  // Collect every problem so that one error lists them all.
  const problems: string[] = [];
  if (loss.graph !== graph)
    problems.push(`loss ${loss} belongs to graph "${loss.graph.name}", not to the graph "${graph.name}" being differentiated`);
  if (!isFloatDType(loss.dtype)) problems.push(`loss ${loss} has dtype ${loss.dtype}; a loss must have a float dtype`);
  const seed = options.seed;
  if (seed === undefined) {
    if (!loss.shape.every((d) => d === 1)) {
      problems.push(
        `loss ${loss} must hold a single element (rank 0, or every dimension 1) but has shape ${formatShape(loss.shape)}; ` +
          "reduce it with ops.reduceSum or ops.reduceMean, or pass options.seed for a vector-Jacobian product",
      );
    }
  } else if (!(seed instanceof Value)) {
    problems.push(`options.seed must be a graph Value, got ${String(seed)}`);
  } else {
    if (seed.graph !== graph) problems.push(`options.seed ${seed} belongs to graph "${seed.graph.name}", not to "${graph.name}"`);
    if (seed.dtype !== loss.dtype || !sameShape(seed.shape, loss.shape)) {
      problems.push(`options.seed ${seed} must have the loss's dtype and shape (${loss.dtype}${formatShape(loss.shape)})`);
    }
  }
  wrt.forEach((w, i) => {
    if (!(w instanceof Value)) {
      problems.push(`wrt[${i}] must be a graph Value, got ${String(w)}`);
      return;
    }
    if (w.graph !== graph)
      problems.push(`wrt[${i}] ${w} belongs to graph "${w.graph.name}", not to the graph "${graph.name}" being differentiated`);
    if (!isFloatDType(w.dtype)) {
      problems.push(`wrt[${i}] ${w} has dtype ${w.dtype}, but gradients exist only for float values; remove it from wrt`);
    }
  });
  if (problems.length > 0)
    throw new InvalidArgumentError(`grad: invalid arguments:\n  - ${problems.join("\n  - ")}`, { details: { problems } });
}

function sameShape(a: readonly (number | string)[], b: readonly (number | string)[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Adds a constant of ones with the loss's dtype and (single-element) shape. */
function onesLike(graph: Graph, loss: Value): Value {
  const shape = loss.shape as readonly number[];
  const ones = Tensor.float64(shape, new Array<number>(shapeSize(shape)).fill(1));
  return graph.constant(castTensor(ones, loss.dtype), `d${loss.name}`);
}

// ---------------------------------------------------------------- the walk

/**
 * Finds the float values that depend on some wrt value and lead to the loss. Gradients flow
 * only through these, and a node is differentiated only when it has one as an input and
 * one as an output.
 */
function activeValues(nodes: readonly Node[], loss: Value, wrt: readonly Value[]): Set<Value> {
  const depends = new Set<Value>(wrt);
  for (const node of nodes) {
    if (node.op === StopGradient) continue;
    if (!node.inputs.some((v) => v !== null && depends.has(v))) continue;
    for (const output of node.outputs) if (isFloatDType(output.dtype)) depends.add(output);
  }

  const active = new Set<Value>();
  if (depends.has(loss)) active.add(loss);
  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n] as Node;
    if (node.op === StopGradient || !node.outputs.some((v) => active.has(v))) continue;
    for (const input of node.inputs) if (input !== null && depends.has(input)) active.add(input);
  }
  return active;
}

/** Calls the node's vector-Jacobian rule. */
function applyRule(graph: Graph, node: Node, doutputs: readonly (Value | null)[], active: ReadonlySet<Value>): readonly (Value | null)[] {
  const rule = node.op.vjp;
  if (rule === undefined) {
    const signature = node.inputs.map((v) => (v === null ? "(none)" : v.toString())).join(", ");
    throw new MissingGradientError(
      `operator ${node.op.opType} has no gradient rule, so node ${node.name} (inputs: ${signature}) cannot be differentiated; ` +
        `add a vjp to the ${node.op.opType} definition, or wrap the input in ops.stopGradient if no gradient should flow through it`,
      { details: { opType: node.op.opType, node: node.name } },
    );
  }
  const context: VjpContext = {
    graph,
    node,
    inputs: node.inputs,
    outputs: node.outputs,
    attributes: node.attributes,
    doutputs,
    needs: (index) => {
      const input = node.inputs[index];
      return input !== null && input !== undefined && active.has(input);
    },
  };
  return rule(context);
}

function pushContribution(contributions: Map<Value, Value[]>, value: Value, gradient: Value): void {
  const list = contributions.get(value);
  if (list === undefined) contributions.set(value, [gradient]);
  else list.push(gradient);
}

/** Sums the gradients that the consumers of `value` sent it, or null when none did. */
function accumulate(contributions: Map<Value, Value[]>, value: Value): Value | null {
  const list = contributions.get(value);
  if (list === undefined || list.length === 0) return null;
  let total = list[0] as Value;
  for (let i = 1; i < list.length; i++) total = add(total, list[i] as Value);
  contributions.set(value, [total]);
  return total;
}

/**
 * Sums `gradient` over the axes that broadcasting added to `input`: the extra leading
 * axes, and the axes where the input has a literal 1 and the gradient does not.
 *
 * NOTE: a symbolic input dimension is taken to equal the gradient's, as shape inference
 * does in `broadcastShapes`. When it is 1 at run time and the gradient's is larger, the
 * axis is not summed and the gradient keeps the larger size.
 */
function sumToShape(gradient: Value, input: Value, node: Node): Value {
  const rule = `the ${node.op.opType} gradient rule (node ${node.name})`;
  if (gradient.dtype !== input.dtype) {
    throw new GraphError(`${rule} returned ${gradient} for input ${input}; a gradient must have its input's dtype`);
  }
  const extra = gradient.rank - input.rank;
  if (extra < 0) {
    throw new GraphError(`${rule} returned ${gradient} for input ${input}; a gradient must have at least its input's rank`);
  }

  const axes: number[] = [];
  for (let i = 0; i < extra; i++) axes.push(i);
  input.shape.forEach((d, i) => {
    const g = gradient.shape[extra + i] as number | string;
    if (d === g || typeof d === "string" || typeof g === "string") {
      if (d === 1 && g !== 1) axes.push(extra + i);
      return;
    }
    if (d === 1) {
      axes.push(extra + i);
      return;
    }
    throw new GraphError(
      `${rule} returned ${gradient} for input ${input}, which does not broadcast to the input (axis ${i}: ${g} vs ${d})`,
    );
  });

  if (axes.length === 0) return gradient;
  if (axes.every((a) => a < extra)) return reduceSum(gradient, axes, false);
  const summed = reduceSum(gradient, axes, true);
  return extra === 0 ? summed : reshapeLike(summed, input);
}
