/**
 * The loss registry: built-in losses and those that plugins add, looked up by name.
 */

import { InvalidArgumentError, type Value } from "@lcc/tensor";
import { crossEntropy, klFull, klTopK } from "./token-losses.js";

/** The teacher's distribution over each answer token, as fed to the graph. */
export type TeacherTargets =
  | { readonly kind: "full"; readonly logProbabilities: Value } // [N, T, V]
  | { readonly kind: "top-k"; readonly ids: Value; readonly logProbabilities: Value }; // [N, T, k] each

/** Inputs a loss may read: the student's logits, the gold tokens and the teacher. */
export interface LossInputs {
  readonly logits: Value; // [N, T, V]
  readonly goldIds: Value; // [N, T] int64
  readonly mask: Value; // [N, T], 1 for answer tokens
  readonly teacher: TeacherTargets | null;
}

export interface LossDefinition {
  /** Name used on the command line and in options, e.g. "kl". */
  readonly name: string;
  readonly description: string;
  /** Whether the loss reads teacher distributions (so the compiler must compute them). */
  readonly needsTeacher: boolean;
  /** Builds the loss as a [1]-shaped graph value: a mean over the masked tokens. */
  build(inputs: LossInputs): Value;
}

const registry = new Map<string, LossDefinition>();

/** Lowercase words of letters and digits joined by single hyphens, e.g. "kl" or "top-k-kl". */
const LOSS_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Adds a loss under its name. Rejects invalid definitions, listing every problem, and names already registered. */
export function registerLoss(definition: LossDefinition): void {
  if (typeof definition !== "object" || definition === null) {
    throw new InvalidArgumentError(`registerLoss expects a loss definition object, got ${String(definition)}`);
  }
  const problems: string[] = [];
  if (typeof definition.name !== "string" || !LOSS_NAME.test(definition.name)) {
    problems.push(`the name must be lowercase words of letters and digits joined by '-' (e.g. "top-k-kl"), got ${JSON.stringify(definition.name)}`);
  }
  if (typeof definition.description !== "string") problems.push("the description must be a string");
  if (typeof definition.needsTeacher !== "boolean") problems.push("needsTeacher must be true or false");
  if (typeof definition.build !== "function") problems.push("build must be a function");
  if (problems.length > 0) {
    throw new InvalidArgumentError(`invalid loss definition ${JSON.stringify(definition.name)}: ${problems.join("; ")}`);
  }

  if (registry.has(definition.name)) {
    throw new InvalidArgumentError(`a loss named "${definition.name}" is already registered; choose another name`);
  }
  registry.set(definition.name, definition);
}

/** Returns the loss registered under `name`, or throws an error that lists the registered names. */
export function getLoss(name: string): LossDefinition {
  const definition = registry.get(name);
  if (definition === undefined) {
    const known = [...registry.keys()].map((registered) => `"${registered}"`).join(", ");
    throw new InvalidArgumentError(`unknown loss ${JSON.stringify(name)}; registered losses: ${known}. Register it with registerLoss first`);
  }
  return definition;
}

/** Returns the registered losses in registration order, built-ins first. */
export function listLosses(): LossDefinition[] {
  return [...registry.values()];
}

function requireTeacher(name: string, inputs: LossInputs): TeacherTargets {
  if (inputs.teacher === null) throw new InvalidArgumentError(`loss "${name}" needs teacher distributions, but none were given`);
  return inputs.teacher;
}

registerLoss({
  name: "kl",
  description: "forward KL(teacher ‖ student) over each answer token, against full or top-k teacher distributions",
  needsTeacher: true,
  build(inputs) {
    const teacher = requireTeacher("kl", inputs);
    return teacher.kind === "full"
      ? klFull(inputs.logits, teacher.logProbabilities, inputs.mask)
      : klTopK(inputs.logits, teacher.ids, teacher.logProbabilities, inputs.mask);
  },
});

registerLoss({
  name: "ce",
  description: "cross-entropy of the gold answer tokens",
  needsTeacher: false,
  build: (inputs) => crossEntropy(inputs.logits, inputs.goldIds, inputs.mask),
});
