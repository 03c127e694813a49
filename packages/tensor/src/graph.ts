/**
 * A typed ONNX graph builder.
 *
 * Values carry a dtype and a shape whose dimensions are numbers or symbolic names
 * ("B", "T", "P+T"). Every operator is defined once in `ops/` with its shape
 * inference and its vector-Jacobian rule.
 */

import type { DType } from "./dtype.js";
import { GraphError, InvalidArgumentError } from "./errors.js";
import { Tensor, formatShape } from "./tensor.js";

export type Dim = number | string;

export type Attribute =
  | { readonly kind: "int"; readonly value: number }
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "ints"; readonly value: readonly number[] }
  | { readonly kind: "floats"; readonly value: readonly number[] }
  | { readonly kind: "tensor"; readonly value: Tensor };

export const attr = {
  int: (value: number): Attribute => ({ kind: "int", value }),
  float: (value: number): Attribute => ({ kind: "float", value }),
  string: (value: string): Attribute => ({ kind: "string", value }),
  ints: (value: readonly number[]): Attribute => ({ kind: "ints", value }),
  floats: (value: readonly number[]): Attribute => ({ kind: "floats", value }),
  tensor: (value: Tensor): Attribute => ({ kind: "tensor", value }),
};

export type Attributes = Readonly<Record<string, Attribute>>;

/** A named value in a graph: a graph input, an initializer or a node output. */
export class Value {
  /** The node that produces this value, or null for inputs and initializers. */
  producer: Node | null = null;
  /** The value of an initializer, known while building. */
  readonly constant: Tensor | undefined;

  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: readonly Dim[],
    constant?: Tensor,
  ) {
    this.constant = constant;
  }

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `${this.name}: ${this.dtype}${formatShape(this.shape)}`;
  }
}

export interface Node {
  readonly op: OpDefinition;
  readonly name: string;
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attributes: Attributes;
}

/** What an operator's shape inference returns for each output. */
export interface OutputSpec {
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

/**
 * Context handed to a vector-Jacobian rule: the node being differentiated and the
 * gradients of its outputs (null where no gradient flows).
 */
export interface VjpContext {
  readonly graph: Graph;
  readonly node: Node;
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attributes: Attributes;
  readonly doutputs: readonly (Value | null)[];
  /** Whether input i needs a gradient; rules may skip work for the others. */
  needs(index: number): boolean;
}

/**
 * Vector-Jacobian rule: returns the gradient of each input (null for inputs that are
 * not differentiable or not needed). Gradients may have the broadcast output shape;
 * the walker reduces them back to each input's shape.
 */
export type VjpRule = (context: VjpContext) => (Value | null)[];

/** One operator: its ONNX type, shape inference and (optionally) its gradient rule. */
export interface OpDefinition {
  readonly opType: string;
  readonly domain?: string;
  infer(inputs: readonly (Value | null)[], attributes: Attributes): OutputSpec[];
  readonly vjp?: VjpRule;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly initializers: Value[] = [];
  readonly outputs: Value[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name = "lcc") {}

  /** Declares a graph input that callers feed at run time. */
  input(name: string, dtype: DType, shape: readonly Dim[]): Value {
    this.claim(name);
    const value = new Value(this, name, dtype, shape);
    this.inputs.push(value);
    return value;
  }

  /** Adds a weight or constant stored in the model. */
  initializer(name: string, tensor: Tensor): Value {
    this.claim(name);
    const value = new Value(this, name, tensor.dtype, [...tensor.shape], tensor);
    this.initializers.push(value);
    return value;
  }

  /** Adds an anonymous constant (an initializer with a generated name). */
  constant(tensor: Tensor, hint = "const"): Value {
    return this.initializer(this.uniqueName(hint), tensor);
  }

  /** Adds a constant int64 vector, for axes, shapes and indices. */
  ints(values: readonly number[]): Value {
    return this.constant(Tensor.int64([values.length], values), "ints");
  }

  /** Adds a constant scalar. */
  scalar(value: number, dtype: DType = "float32"): Value {
    if (dtype === "float32") return this.constant(Tensor.float32([], [value]), "scalar");
    if (dtype === "float64") return this.constant(Tensor.float64([], [value]), "scalar");
    if (dtype === "int64") return this.constant(Tensor.int64([], [value]), "scalar");
    throw new InvalidArgumentError(`scalar constants of dtype ${dtype} are not supported; use float32, float64 or int64`);
  }

  /** Marks a value as a graph output, renamed through an Identity node when `name` differs. */
  output(value: Value, name?: string): Value {
    this.own(value);
    let out = value;
    const isGraphInput = value.producer === null;
    if ((name !== undefined && name !== value.name) || isGraphInput || this.outputs.includes(value)) {
      const outName = name ?? this.uniqueName(`${value.name}_out`);
      this.claim(outName);
      out = new Value(this, outName, value.dtype, value.shape);
      const node: Node = { op: IDENTITY, name: this.uniqueName("Identity"), inputs: [value], outputs: [out], attributes: {} };
      out.producer = node;
      this.nodes.push(node);
    }
    this.outputs.push(out);
    return out;
  }

  /** Appends a node of `op` and returns its outputs. */
  add(op: OpDefinition, inputs: readonly (Value | null)[], attributes: Attributes = {}): Value[] {
    for (const input of inputs) if (input !== null) this.own(input);
    let specs: OutputSpec[];
    try {
      specs = op.infer(inputs, attributes);
    } catch (error) {
      if (error instanceof GraphError || error instanceof InvalidArgumentError) {
        const described = inputs.map((v) => (v === null ? "(none)" : v.toString())).join(", ");
        throw new GraphError(`${op.opType}: ${error.message} (inputs: ${described})`, { cause: error });
      }
      throw error;
    }
    const nodeName = this.uniqueName(op.opType);
    const outputs = specs.map((spec, i) => {
      const name = specs.length === 1 ? `${nodeName}_y` : `${nodeName}_y${i}`;
      this.claim(name);
      return new Value(this, name, spec.dtype, spec.shape);
    });
    const node: Node = { op, name: nodeName, inputs: [...inputs], outputs, attributes };
    for (const output of outputs) output.producer = node;
    this.nodes.push(node);
    return outputs;
  }

  /** Returns a fresh name that starts with `hint`. */
  uniqueName(hint: string): string {
    let name: string;
    do {
      name = `${hint}_${this.counter++}`;
    } while (this.names.has(name));
    return name;
  }

  private claim(name: string): void {
    if (name.length === 0) throw new InvalidArgumentError("graph value names must not be empty");
    if (this.names.has(name)) throw new GraphError(`the graph already has a value named "${name}"`);
    this.names.add(name);
  }

  private own(value: Value): void {
    if (value.graph !== this) throw new GraphError(`value ${value.name} belongs to another graph`);
  }
}

const IDENTITY: OpDefinition = {
  opType: "Identity",
  infer: ([x]) => [{ dtype: (x as Value).dtype, shape: (x as Value).shape }],
  vjp: ({ doutputs }) => [doutputs[0] ?? null],
};
