/**
 * Shape-inference helpers shared by the operator definitions.
 */

import type { DType } from "../dtype.js";
import { GraphError } from "../errors.js";
import type { Attribute, Attributes, Dim, Value } from "../graph.js";
import { formatShape } from "../tensor.js";

export function required(inputs: readonly (Value | null)[], index: number, what: string): Value {
  const value = inputs[index];
  if (value === null || value === undefined) throw new GraphError(`input ${index} (${what}) is required`);
  return value;
}

export function sameDType(values: readonly Value[]): DType {
  const first = values[0] as Value;
  for (const value of values) {
    if (value.dtype !== first.dtype) {
      throw new GraphError(`dtypes differ: ${values.map((v) => `${v.name} is ${v.dtype}`).join(", ")}`);
    }
  }
  return first.dtype;
}

/** Numpy-style broadcast of several shapes. Symbolic dims are assumed to agree. */
export function broadcastShapes(shapes: readonly (readonly Dim[])[]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const result: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const shape of shapes) {
      const d = shape[shape.length - rank + i];
      if (d === undefined || d === 1) continue;
      if (dim === 1) {
        dim = d;
      } else if (typeof dim === "number" && typeof d === "number" && dim !== d) {
        throw new GraphError(`shapes ${shapes.map((s) => formatShape(s)).join(" and ")} cannot be broadcast (axis ${i}: ${dim} vs ${d})`);
      } else if (typeof dim === "string" && typeof d === "number") {
        dim = d;
      }
    }
    result.push(dim);
  }
  return result;
}

export function normalizeAxis(axis: number, rank: number): number {
  const normalized = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(normalized) || normalized < 0 || normalized >= rank) {
    throw new GraphError(`axis ${axis} is out of range for rank ${rank}`);
  }
  return normalized;
}

/** Sum of dims, symbolic when any term is symbolic. */
export function addDims(dims: readonly Dim[]): Dim {
  if (dims.every((d) => typeof d === "number")) return (dims as number[]).reduce((a, b) => a + b, 0);
  const terms = dims.filter((d) => d !== 0).map(String);
  return terms.length === 1 ? (terms[0] as string) : terms.join("+");
}

export function mulDims(dims: readonly Dim[]): Dim {
  if (dims.every((d) => typeof d === "number")) return (dims as number[]).reduce((a, b) => a * b, 1);
  const terms = dims.filter((d) => d !== 1).map((d) => (typeof d === "string" && d.includes("+") ? `(${d})` : String(d)));
  return terms.length === 1 ? (terms[0] as string) : terms.join("*");
}

/** Returns the int64 values of a constant input, or undefined when it is not a constant. */
export function constantInts(value: Value | null | undefined): number[] | undefined {
  if (value === null || value === undefined || value.constant === undefined) return undefined;
  const data = value.constant.data;
  if (data instanceof BigInt64Array) return Array.from(data, Number);
  if (data instanceof Int32Array) return Array.from(data);
  return undefined;
}

export function requireConstantInts(value: Value | null | undefined, what: string): number[] {
  const ints = constantInts(value);
  if (ints === undefined) throw new GraphError(`${what} must be a constant int64 initializer (use graph.ints([...]))`);
  return ints;
}

export function intAttr(attributes: Attributes, name: string, fallback?: number): number {
  const a: Attribute | undefined = attributes[name];
  if (a === undefined) {
    if (fallback === undefined) throw new GraphError(`attribute "${name}" is required`);
    return fallback;
  }
  if (a.kind !== "int") throw new GraphError(`attribute "${name}" must be an int`);
  return a.value;
}

export function intsAttr(attributes: Attributes, name: string): number[] | undefined {
  const a = attributes[name];
  if (a === undefined) return undefined;
  if (a.kind !== "ints") throw new GraphError(`attribute "${name}" must be a list of ints`);
  return [...a.value];
}

let fresh = 0;

/** Returns a new symbolic dimension for outputs whose size is only known at run time. */
export function freshDim(hint: string): string {
  fresh += 1;
  return `${hint}?${fresh}`;
}
