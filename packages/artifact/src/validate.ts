/**
 * Checks of a memory's fields, shared by `validateMemory` (before encoding) and the
 * decoder (after parsing a file). Each check appends readable problems to a list, so
 * that one error reports all of them.
 *
 * Legend: L context tokens, K buffer tokens, Hkv key/value heads, Dh head width.
 */

import { createHash } from "node:crypto";
import { InvalidArgumentError, Tensor, formatShape } from "@lcc/tensor";
import { MemoryModelMismatchError } from "./errors.js";
import { firstNonFinite } from "./storage.js";
import { type ExpectedModel, type Memory, type ModelFingerprint, MEMORY_LIMITS } from "./types.js";

/** A memory without its layers: every field the file stores outside the tensors. */
export type MemoryHeader = Omit<Memory, "layers">;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const MAX_UINT32 = 4_294_967_295;
const MAX_JSON_DEPTH = 64;
/** Problems listed in one message; the rest are counted. */
const MAX_LISTED_PROBLEMS = 20;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export function plural(count: number, noun: string, nounPlural = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nounPlural}`;
}

/** Formats problems as an indented list, at most MAX_LISTED_PROBLEMS of them. */
export function formatProblems(problems: readonly string[]): string {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map((problem) => `  - ${problem}`);
  if (problems.length > MAX_LISTED_PROBLEMS) listed.push(`  - and ${problems.length - MAX_LISTED_PROBLEMS} more`);
  return listed.join("\n");
}

// ---------------------------------------------------------------------------
// Field checks
// ---------------------------------------------------------------------------

function checkInteger(problems: string[], name: string, value: unknown, min: number, max: number): value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} is ${String(value)} but must be an integer in [${min}, ${max}]`);
    return false;
  }
  return true;
}

function checkText(problems: string[], name: string, value: unknown): void {
  if (typeof value !== "string" || value.length === 0)
    problems.push(`${name} must be a non-empty string, got ${JSON.stringify(value) ?? String(value)}`);
}

function checkSha256(problems: string[], name: string, value: unknown): void {
  if (typeof value !== "string" || !SHA256_HEX.test(value)) {
    problems.push(`${name} must be 64 lowercase hexadecimal digits (a sha256), got ${JSON.stringify(value) ?? String(value)}`);
  }
}

/** Returns the first reason `value` is not JSON that reads back equal, or undefined. */
function jsonProblem(value: unknown, path: string, depth: number): string | undefined {
  if (depth > MAX_JSON_DEPTH) return `${path} is nested deeper than ${MAX_JSON_DEPTH} levels`;
  if (value === null || typeof value === "boolean" || typeof value === "string") return undefined;
  if (typeof value === "number") return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot store`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = jsonProblem(value[i], `${path}[${i}]`, depth + 1);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (isRecord(value) && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    for (const [key, entry] of Object.entries(value)) {
      const problem = jsonProblem(entry, `${path}.${key}`, depth + 1);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  return `${path} is a ${typeof value === "object" ? ((value as object).constructor?.name ?? "object") : typeof value}, which is not a JSON value`;
}

function checkFingerprint(problems: string[], fingerprint: unknown): void {
  if (!isRecord(fingerprint)) {
    problems.push("fingerprint is missing");
    return;
  }
  checkText(problems, "fingerprint.name", fingerprint.name);
  checkText(problems, "fingerprint.architecture", fingerprint.architecture);
  checkSha256(problems, "fingerprint.configSha256", fingerprint.configSha256);
  checkSha256(problems, "fingerprint.weightsSha256", fingerprint.weightsSha256);
  checkSha256(problems, "fingerprint.tokenizerSha256", fingerprint.tokenizerSha256);
  checkInteger(problems, "fingerprint.numLayers", fingerprint.numLayers, 1, MEMORY_LIMITS.maxLayers);
  checkInteger(problems, "fingerprint.numKvHeads", fingerprint.numKvHeads, 1, MEMORY_LIMITS.maxKvHeads);
  checkInteger(problems, "fingerprint.headDim", fingerprint.headDim, 1, MEMORY_LIMITS.maxHeadDim);
}

function checkSegments(problems: string[], segments: unknown, sourceTokens: number, bufferTokens: number): void {
  if (!Array.isArray(segments) || segments.length === 0) {
    problems.push("compression.segments must be a non-empty list");
    return;
  }
  if (segments.length > bufferTokens) {
    problems.push(
      `compression.segments has ${segments.length} entries but each segment needs at least one of the ${bufferTokens} buffer tokens`,
    );
    return;
  }

  // Segments follow one another: each starts where the previous one ends, from 0 to L and K.
  let source = 0;
  let buffer = 0;
  for (let i = 0; i < segments.length; i++) {
    const segment: unknown = segments[i];
    const name = `compression.segments[${i}]`;
    if (!isRecord(segment)) {
      problems.push(`${name} must be an object`);
      return;
    }
    const { sourceStart, sourceEnd, bufferStart, bufferEnd } = segment;
    if (sourceStart !== source || bufferStart !== buffer) {
      problems.push(
        `${name} starts at source token ${String(sourceStart)} and buffer token ${String(bufferStart)} but must start at ${source} and ${buffer}, where the previous segment ends`,
      );
      return;
    }
    if (!checkInteger(problems, `${name}.sourceEnd`, sourceEnd, source + 1, sourceTokens)) return;
    if (!checkInteger(problems, `${name}.bufferEnd`, bufferEnd, buffer + 1, bufferTokens)) return;
    source = sourceEnd;
    buffer = bufferEnd;
  }
  if (source !== sourceTokens || buffer !== bufferTokens) {
    problems.push(
      `compression.segments end at source token ${source} and buffer token ${buffer} but must cover all ${sourceTokens} source tokens and ${bufferTokens} buffer tokens`,
    );
  }
}

function checkCompression(problems: string[], compression: unknown): void {
  if (!isRecord(compression)) {
    problems.push("compression is missing");
    return;
  }
  const sourceOk = checkInteger(problems, "compression.sourceTokens", compression.sourceTokens, 1, MEMORY_LIMITS.maxSourceTokens);
  const bufferOk = checkInteger(problems, "compression.bufferTokens", compression.bufferTokens, 1, MEMORY_LIMITS.maxBufferTokens);
  const ratio = compression.ratio;
  if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio < 1)
    problems.push(`compression.ratio is ${String(ratio)} but must be a finite number of at least 1`);
  if (sourceOk && bufferOk)
    checkSegments(problems, compression.segments, compression.sourceTokens as number, compression.bufferTokens as number);
}

function checkPositions(problems: string[], positions: unknown, bufferTokens: unknown): void {
  if (!Array.isArray(positions)) {
    problems.push("positions must be a list of numbers");
    return;
  }
  if (positions.length !== bufferTokens) {
    problems.push(
      `positions has ${plural(positions.length, "entry", "entries")} but compression.bufferTokens is ${String(bufferTokens)}; there is one position per buffer token`,
    );
    return;
  }
  const invalid = positions.findIndex((position) => !Number.isSafeInteger(position) || position < 0);
  if (invalid >= 0)
    problems.push(`positions[${invalid}] is ${String(positions[invalid])} but positions must be non-negative safe integers`);
}

function checkProvenance(problems: string[], provenance: unknown): void {
  if (!isRecord(provenance)) {
    problems.push("provenance is missing");
    return;
  }
  if (!isRecord(provenance.options)) {
    problems.push("provenance.options must be an object");
  } else {
    const problem = jsonProblem(provenance.options, "provenance.options", 0);
    if (problem !== undefined) problems.push(problem);
  }
  checkInteger(problems, "provenance.steps", provenance.steps, 0, MAX_UINT32);
  if (!isRecord(provenance.finalLosses)) {
    problems.push("provenance.finalLosses must be an object of numbers");
  } else {
    for (const [name, value] of Object.entries(provenance.finalLosses)) {
      if (name.length === 0) problems.push("provenance.finalLosses has an empty loss name");
      if (typeof value !== "number" || !Number.isFinite(value))
        problems.push(`provenance.finalLosses.${name} is ${String(value)} but must be a finite number`);
    }
  }
  const wallTime = provenance.wallTimeSeconds;
  if (typeof wallTime !== "number" || !Number.isFinite(wallTime) || wallTime < 0) {
    problems.push(`provenance.wallTimeSeconds is ${String(wallTime)} but must be a finite number of at least 0`);
  }
}

/** Appends every problem of the non-tensor fields of `header`. */
export function checkHeader(problems: string[], header: MemoryHeader): void {
  const producer: unknown = header.producer;
  if (!isRecord(producer)) {
    problems.push("producer is missing");
  } else {
    checkText(problems, "producer.name", producer.name);
    checkText(problems, "producer.version", producer.version);
  }
  checkFingerprint(problems, header.fingerprint);
  checkCompression(problems, header.compression);
  checkPositions(problems, header.positions, isRecord(header.compression) ? header.compression.bufferTokens : undefined);
  checkProvenance(problems, header.provenance);

  checkSha256(problems, "sourceSha256", header.sourceSha256);
  if (header.sourceText !== undefined) {
    if (typeof header.sourceText !== "string") problems.push(`sourceText must be a string, got ${typeof header.sourceText}`);
    else if (sha256Hex(header.sourceText) !== header.sourceSha256)
      problems.push("sourceText does not match sourceSha256; the sha256 of its UTF-8 bytes differs");
  }

  const createdAt: unknown = header.createdAt;
  if (typeof createdAt !== "string" || !RFC3339_UTC.test(createdAt) || Number.isNaN(Date.parse(createdAt))) {
    problems.push(
      `createdAt is ${JSON.stringify(createdAt) ?? String(createdAt)} but must be an RFC 3339 UTC time such as "2026-12-04T09:30:00.000Z"`,
    );
  }
}

/** Returns the [K, Hkv, Dh] every key and value tensor must have, or undefined when the header's numbers are invalid. */
export function expectedTensorShape(header: MemoryHeader): [number, number, number] | undefined {
  const fingerprint: unknown = header.fingerprint;
  const compression: unknown = header.compression;
  if (!isRecord(fingerprint) || !isRecord(compression)) return undefined;
  const shape = [compression.bufferTokens, fingerprint.numKvHeads, fingerprint.headDim];
  const maxima = [MEMORY_LIMITS.maxBufferTokens, MEMORY_LIMITS.maxKvHeads, MEMORY_LIMITS.maxHeadDim];
  const valid = shape.every((dim, i) => typeof dim === "number" && Number.isInteger(dim) && dim >= 1 && dim <= maxima[i]!);
  return valid ? (shape as [number, number, number]) : undefined;
}

// ---------------------------------------------------------------------------
// Public checks
// ---------------------------------------------------------------------------

function describeModel(model: ExpectedModel, fallback: string): string {
  const name = typeof model.name === "string" && model.name.length > 0 ? `"${model.name}"` : fallback;
  const parts = [model.architecture, model.weightsSha256 === undefined ? undefined : `weights sha256 ${model.weightsSha256.slice(0, 12)}…`];
  const described = parts.filter((part) => part !== undefined);
  return described.length > 0 ? `${name} (${described.join(", ")})` : name;
}

/**
 * Throws MemoryModelMismatchError unless every field of `expected` other than `name`
 * equals the same field of `fingerprint`. The message names both models and lists every
 * difference.
 */
export function checkExpectedModel(fingerprint: ModelFingerprint, expected: ExpectedModel): void {
  if (!isRecord(expected)) throw new InvalidArgumentError(`expect must be an object of model fingerprint fields, got ${String(expected)}`);

  const fields = ["architecture", "configSha256", "weightsSha256", "tokenizerSha256", "numLayers", "numKvHeads", "headDim"] as const;
  const differences: string[] = [];
  for (const field of fields) {
    const wanted = expected[field];
    if (wanted !== undefined && wanted !== fingerprint[field])
      differences.push(`${field} is ${String(fingerprint[field])} in the memory but ${String(wanted)} in the model`);
  }
  if (differences.length === 0) return;

  const memoryModel = describeModel(fingerprint, "an unnamed model");
  const usedModel = describeModel(expected, "another model");
  throw new MemoryModelMismatchError(
    `the memory was compiled for ${memoryModel} but is used with ${usedModel}:\n${formatProblems(differences)}\nhint: use the memory with the model it was compiled for, or compile the context again for this model`,
    { details: { memoryModel: fingerprint.name, expectedModel: expected.name, differences } },
  );
}

function checkLayers(problems: string[], layers: unknown, header: MemoryHeader): void {
  if (!Array.isArray(layers)) {
    problems.push("layers must be a list");
    return;
  }
  const numLayers = isRecord(header.fingerprint) ? header.fingerprint.numLayers : undefined;
  if (layers.length !== numLayers)
    problems.push(`layers has ${plural(layers.length, "entry", "entries")} but fingerprint.numLayers is ${String(numLayers)}`);

  const shape = expectedTensorShape(header);
  for (let l = 0; l < layers.length; l++) {
    const layer: unknown = layers[l];
    if (!isRecord(layer)) {
      problems.push(`layers[${l}] must be an object with keys and values`);
      continue;
    }
    for (const part of ["keys", "values"] as const) {
      const tensor = layer[part];
      const name = `layers[${l}].${part}`;
      if (!(tensor instanceof Tensor) || tensor.dtype !== "float32") {
        problems.push(`${name} must be a float32 Tensor`);
        continue;
      }
      if (shape !== undefined && (tensor.rank !== 3 || tensor.shape.some((dim, i) => dim !== shape[i]))) {
        problems.push(`${name} has shape ${formatShape(tensor.shape)} but must be [K, Hkv, Dh] = ${formatShape(shape)}`);
        continue;
      }
      const nonFinite = firstNonFinite(tensor.data as Float32Array);
      if (nonFinite >= 0)
        problems.push(`${name} element ${nonFinite} is ${(tensor.data as Float32Array)[nonFinite]}; keys and values must be finite`);
    }
  }
}

/**
 * Checks every field of `memory` against the format's rules, and its fingerprint against
 * `options.expect` when given. Throws InvalidArgumentError listing every problem, or
 * MemoryModelMismatchError.
 */
export function validateMemory(memory: Memory, options: { readonly expect?: ExpectedModel } = {}): void {
  if (!isRecord(memory)) throw new InvalidArgumentError(`validateMemory: memory must be an object, got ${String(memory)}`);

  const problems: string[] = [];
  checkHeader(problems, memory);
  checkLayers(problems, memory.layers, memory);
  if (problems.length > 0) {
    throw new InvalidArgumentError(`the memory is invalid (${plural(problems.length, "problem")}):\n${formatProblems(problems)}`, {
      details: { problems },
    });
  }
  if (options.expect !== undefined) checkExpectedModel(memory.fingerprint, options.expect);
}
