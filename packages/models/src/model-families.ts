/**
 * Model families: hooks that let a config.json of another architecture load as one of
 * the architectures lcc runs (llama, mistral, qwen2). A family claims transformers class
 * names and `model_type` values and rewrites such a config into the config.json of a
 * supported architecture. parseHfConfig applies the rewrite before it reads any field.
 *
 * NOTE: only the config is mapped. The checkpoint's weights must already use the Llama
 * parameter names and layouts (model.layers.N.self_attn.q_proj.weight and so on).
 */

import { InvalidArgumentError } from "@lcc/tensor";
import { UnsupportedModelError } from "./errors.js";
import { SUPPORTED_HF_ARCHITECTURES } from "./hf-config.js";

export interface ModelFamily {
  /** Name used in messages, e.g. "tiny-llama-variant". */
  readonly name: string;
  /** transformers class names in `architectures` that this family handles, e.g. ["MyLlamaForCausalLM"]. */
  readonly architectures: readonly string[];
  /** `model_type` values that this family handles, e.g. ["my_llama"]. */
  readonly modelTypes: readonly string[];
  /**
   * Returns the config.json object of a supported architecture equivalent to `config`,
   * for example `{ ...config, architectures: ["LlamaForCausalLM"], model_type: "llama" }`.
   * It receives a copy and may modify it.
   */
  toSupportedConfig(config: Record<string, unknown>): Record<string, unknown>;
}

const families: ModelFamily[] = [];

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((entry) => typeof entry === "string" && entry.length > 0);
}

/**
 * Adds a model family. Rejects an invalid definition, listing every problem, and a
 * family whose name, class name or model_type another family already claims.
 */
export function registerModelFamily(family: ModelFamily): void {
  if (typeof family !== "object" || family === null)
    throw new InvalidArgumentError(`registerModelFamily expects a family object, got ${String(family)}`);
  const problems: string[] = [];
  if (typeof family.name !== "string" || family.name.length === 0) problems.push("name must be a non-empty string");
  if (!isStringList(family.architectures)) problems.push("architectures must be an array of non-empty strings");
  if (!isStringList(family.modelTypes)) problems.push("modelTypes must be an array of non-empty strings");
  if (
    isStringList(family.architectures) &&
    isStringList(family.modelTypes) &&
    family.architectures.length + family.modelTypes.length === 0
  ) {
    problems.push("architectures and modelTypes are both empty, so the family would never apply");
  }
  if (typeof family.toSupportedConfig !== "function") problems.push("toSupportedConfig must be a function");
  const builtInClasses = Object.keys(SUPPORTED_HF_ARCHITECTURES);
  const builtInTypes: string[] = Object.values(SUPPORTED_HF_ARCHITECTURES);
  for (const entry of isStringList(family.architectures) ? family.architectures : []) {
    if (builtInClasses.includes(entry)) problems.push(`architecture "${entry}" is built in and cannot be claimed`);
  }
  for (const entry of isStringList(family.modelTypes) ? family.modelTypes : []) {
    if (builtInTypes.includes(entry)) problems.push(`model_type "${entry}" is built in and cannot be claimed`);
  }
  if (problems.length > 0)
    throw new InvalidArgumentError(`invalid model family ${JSON.stringify(family.name)}: ${problems.join("; ")}`, {
      details: { problems },
    });

  for (const other of families) {
    const claimed = [
      ...(other.name === family.name ? [`the name "${family.name}"`] : []),
      ...family.architectures.filter((entry) => other.architectures.includes(entry)).map((entry) => `architecture "${entry}"`),
      ...family.modelTypes.filter((entry) => other.modelTypes.includes(entry)).map((entry) => `model_type "${entry}"`),
    ];
    if (claimed.length > 0) {
      throw new InvalidArgumentError(
        `model family "${family.name}" claims ${claimed.join(", ")}, already claimed by model family "${other.name}"`,
        {
          details: { family: family.name, other: other.name },
        },
      );
    }
  }
  families.push(Object.freeze({ ...family, architectures: [...family.architectures], modelTypes: [...family.modelTypes] }));
}

/** Names of the registered families, in registration order. */
export function listModelFamilies(): string[] {
  return families.map((family) => family.name);
}

/** Finds the family that claims this config's first matching class name, else its model_type, or returns null. */
function familyFor(json: Record<string, unknown>): ModelFamily | null {
  const classes = Array.isArray(json.architectures) ? json.architectures.filter((entry): entry is string => typeof entry === "string") : [];
  for (const hfClass of classes) {
    const family = families.find((candidate) => candidate.architectures.includes(hfClass));
    if (family !== undefined) return family;
  }
  const modelType = json.model_type;
  if (typeof modelType !== "string") return null;
  return families.find((candidate) => candidate.modelTypes.includes(modelType)) ?? null;
}

/**
 * Returns the config rewritten by the family that claims it, or `json` itself when no
 * family does. Throws UnsupportedModelError when the family's hook fails or returns
 * something other than an object.
 */
export function applyModelFamily(json: Record<string, unknown>, modelName: string): Record<string, unknown> {
  const family = familyFor(json);
  if (family === null) return json;
  let mapped: unknown;
  try {
    mapped = family.toSupportedConfig(structuredClone(json));
  } catch (error) {
    throw new UnsupportedModelError(
      `model family "${family.name}" failed to map the config.json of model "${modelName}": ${(error as Error).message}`,
      {
        cause: error,
        details: { family: family.name, name: modelName },
      },
    );
  }
  if (typeof mapped !== "object" || mapped === null || Array.isArray(mapped)) {
    throw new UnsupportedModelError(
      `model family "${family.name}" returned ${Array.isArray(mapped) ? "an array" : typeof mapped} for the config.json of model "${modelName}"; it must return a config object`,
      {
        details: { family: family.name, name: modelName },
      },
    );
  }
  return mapped as Record<string, unknown>;
}
