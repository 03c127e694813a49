/**
 * Hugging Face `config.json` ↔ LlamaConfig.
 *
 * Supported: LlamaForCausalLM (Llama 2 and 3, SmolLM, TinyLlama), MistralForCausalLM and
 * Qwen2ForCausalLM. Field names and defaults follow the config classes of Hugging Face
 * transformers, except that rms_norm_eps, bos_token_id and eos_token_id are required
 * here, because every released config states them and a guessed token id would be
 * silently wrong.
 */

import { InvalidArgumentError } from "@lcc/tensor";

import type { Architecture, LlamaConfig, RopeScaling } from "./config.js";
import { UnsupportedModelError } from "./errors.js";
import { applyModelFamily } from "./model-families.js";

/** transformers model class → lcc architecture. */
export const SUPPORTED_HF_ARCHITECTURES: Readonly<Record<string, Architecture>> = Object.freeze({
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
});

/** lcc architecture → transformers model class; the `model_type` equals the architecture. */
const HF_CLASS: Readonly<Record<Architecture, string>> = Object.freeze({
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
});

const DEFAULT_ROPE_THETA = 10000;

function supportedList(): string {
  return Object.entries(SUPPORTED_HF_ARCHITECTURES)
    .map(([hfClass, modelType]) => `${hfClass} (model_type "${modelType}")`)
    .join(", ");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------
// Field readers: each records a problem and returns a placeholder on failure, so
// that one pass reports every problem.
// ---------------------------------------------------------------------------

class FieldReader {
  readonly problems: string[] = [];

  constructor(private readonly json: Record<string, unknown>) {}

  /** Returns the value of `key`, with JSON null treated as absent (transformers writes null for defaults). */
  get(key: string): unknown {
    const value = this.json[key];
    return value === null ? undefined : value;
  }

  integer(key: string, minimum: number, fallback?: number): number {
    const value = this.get(key);
    if (value === undefined) {
      if (fallback !== undefined) return fallback;
      this.problems.push(`${key} is missing`);
      return Number.NaN;
    }
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < minimum) {
      this.problems.push(`${key} must be an integer >= ${minimum}, found ${JSON.stringify(value)}`);
      return Number.NaN;
    }
    return value;
  }

  positiveNumber(key: string, fallback?: number): number {
    const value = this.get(key);
    if (value === undefined) {
      if (fallback !== undefined) return fallback;
      this.problems.push(`${key} is missing`);
      return Number.NaN;
    }
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      this.problems.push(`${key} must be a positive number, found ${JSON.stringify(value)}`);
      return Number.NaN;
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") {
      this.problems.push(`${key} must be true or false, found ${JSON.stringify(value)}`);
      return fallback;
    }
    return value;
  }

  /** eos_token_id: one id or a non-empty list of ids. */
  tokenIds(key: string): number[] {
    const value = this.get(key);
    if (value === undefined) {
      this.problems.push(`${key} is missing`);
      return [];
    }
    const ids = Array.isArray(value) ? value : [value];
    if (ids.length === 0 || !ids.every((id) => typeof id === "number" && Number.isSafeInteger(id) && id >= 0)) {
      this.problems.push(`${key} must be a token id or a non-empty list of token ids, found ${JSON.stringify(value)}`);
      return [];
    }
    return ids as number[];
  }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/** Picks the architecture from `architectures`, falling back to `model_type`. */
function detectArchitecture(json: Record<string, unknown>, name: string): { architecture: Architecture; problems: string[] } {
  const problems: string[] = [];
  const classes = json.architectures;
  const modelType = json.model_type;

  let architecture: Architecture | undefined;
  let described: string;
  if (Array.isArray(classes) && classes.length > 0) {
    const hfClass = classes.find((entry): entry is string => typeof entry === "string" && Object.hasOwn(SUPPORTED_HF_ARCHITECTURES, entry));
    architecture = hfClass === undefined ? undefined : SUPPORTED_HF_ARCHITECTURES[hfClass];
    described = `architectures ${JSON.stringify(classes)}`;
    if (architecture !== undefined && modelType !== undefined && modelType !== architecture) {
      problems.push(`model_type ${JSON.stringify(modelType)} does not match ${hfClass}, whose model_type is "${architecture}"`);
    }
  } else {
    const known = Object.values(SUPPORTED_HF_ARCHITECTURES) as string[];
    architecture = typeof modelType === "string" && known.includes(modelType) ? (modelType as Architecture) : undefined;
    described = `model_type ${JSON.stringify(modelType)} and no architectures list`;
  }

  if (architecture === undefined) {
    throw new UnsupportedModelError(
      `model "${name}" has ${described}, which lcc does not support; supported: ${supportedList()}\n` +
        "hint: lcc runs Llama-family decoder models; convert another architecture with its own tools first",
      { details: { name, architectures: classes, modelType } },
    );
  }
  return { architecture, problems };
}

/** Reads `rope_scaling` (or transformers 5's `rope_parameters`); null means plain RoPE. */
function readRopeScaling(json: Record<string, unknown>, problems: string[]): RopeScaling | null {
  const raw = json.rope_scaling ?? json.rope_parameters ?? null;
  if (raw === null) return null;
  if (!isRecord(raw)) {
    problems.push(`rope_scaling must be an object or null, found ${JSON.stringify(raw)}`);
    return null;
  }

  const type = raw.rope_type ?? raw.type ?? "default";
  const fields = new FieldReader(raw);
  let scaling: RopeScaling | null = null;
  if (type === "default") {
    scaling = null;
  } else if (type === "linear") {
    scaling = { type: "linear", factor: fields.positiveNumber("factor") };
  } else if (type === "llama3") {
    scaling = {
      type: "llama3",
      factor: fields.positiveNumber("factor"),
      lowFreqFactor: fields.positiveNumber("low_freq_factor"),
      highFreqFactor: fields.positiveNumber("high_freq_factor"),
      originalMaxPositions: fields.integer("original_max_position_embeddings", 1),
    };
    // The llama3 rule interpolates between the two wavelengths over (high - low).
    if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
      fields.problems.push(`high_freq_factor (${scaling.highFreqFactor}) must be greater than low_freq_factor (${scaling.lowFreqFactor})`);
    }
  } else {
    problems.push(`rope_scaling type ${JSON.stringify(type)} is not supported; supported: "llama3", "linear" or none`);
    return null;
  }
  problems.push(...fields.problems.map((problem) => `rope_scaling.${problem}`));
  return scaling;
}

/** Largest sizes a config may declare (Llama-3.1-405B: 126 layers, 128 heads, 128,256 tokens). */
export const MODEL_LIMITS = Object.freeze({
  vocabSize: 4_194_304,
  hiddenSize: 65_536,
  intermediateSize: 1_048_576,
  numLayers: 1024,
  numHeads: 1024,
});

/**
 * Parses a Hugging Face `config.json` object into a frozen LlamaConfig named `name`.
 * Throws UnsupportedModelError for an architecture lcc cannot run, and one
 * UnsupportedModelError listing every missing or invalid field otherwise.
 */
export function parseHfConfig(raw: unknown, name: string): LlamaConfig {
  if (typeof name !== "string" || name.length === 0) throw new InvalidArgumentError(`model name must be a non-empty string, found ${JSON.stringify(name)}`);
  if (!isRecord(raw)) {
    throw new UnsupportedModelError(`config.json of model "${name}" must be a JSON object, found ${Array.isArray(raw) ? "an array" : typeof raw}`, {
      details: { name },
    });
  }

  // Step 1: architecture, which decides the remaining defaults. A registered model
  // family first maps its own architecture onto a supported one.
  const json = applyModelFamily(raw, name);
  const { architecture, problems: architectureProblems } = detectArchitecture(json, name);
  const fields = new FieldReader(json);
  fields.problems.push(...architectureProblems);

  // Step 2: sizes.
  const vocabSize = fields.integer("vocab_size", 1);
  const hiddenSize = fields.integer("hidden_size", 1);
  const intermediateSize = fields.integer("intermediate_size", 1);
  const numLayers = fields.integer("num_hidden_layers", 1);
  const numHeads = fields.integer("num_attention_heads", 1);
  const numKvHeads = fields.integer("num_key_value_heads", 1, Number.isNaN(numHeads) ? 1 : numHeads);

  // Upper bounds far above real models, so that a forged config cannot make lcc allocate
  // without limit before the weights prove it wrong.
  const limits: [string, number, number][] = [
    ["vocab_size", vocabSize, MODEL_LIMITS.vocabSize],
    ["hidden_size", hiddenSize, MODEL_LIMITS.hiddenSize],
    ["intermediate_size", intermediateSize, MODEL_LIMITS.intermediateSize],
    ["num_hidden_layers", numLayers, MODEL_LIMITS.numLayers],
    ["num_attention_heads", numHeads, MODEL_LIMITS.numHeads],
    ["num_key_value_heads", numKvHeads, MODEL_LIMITS.numHeads],
  ];
  for (const [key, value, maximum] of limits) {
    if (value > maximum) fields.problems.push(`${key} must be at most ${maximum}, found ${value}`);
  }
  let headDim = fields.integer("head_dim", 1, 0);
  if (headDim === 0 && Number.isInteger(hiddenSize) && Number.isInteger(numHeads)) {
    if (hiddenSize % numHeads !== 0) {
      fields.problems.push(`hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}); give head_dim explicitly`);
    }
    headDim = Math.floor(hiddenSize / numHeads);
  }
  if (Number.isInteger(numHeads) && Number.isInteger(numKvHeads) && numHeads % numKvHeads !== 0) {
    fields.problems.push(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }

  // Step 3: positions, RoPE and normalisation.
  let maxPositions = fields.integer("max_position_embeddings", 1);
  const ropeParameters = isRecord(json.rope_parameters) ? json.rope_parameters : {};
  const ropeTheta = fields.positiveNumber("rope_theta", typeof ropeParameters.rope_theta === "number" ? ropeParameters.rope_theta : DEFAULT_ROPE_THETA);
  const ropeScaling = readRopeScaling(json, fields.problems);
  const rmsNormEps = fields.positiveNumber("rms_norm_eps");

  // Sliding-window attention equals full causal attention for sequences no longer than
  // the window, so a window shorter than max_position_embeddings caps the context.
  const slidingWindowApplies = architecture === "mistral" || (architecture === "qwen2" && fields.boolean("use_sliding_window", false));
  if (slidingWindowApplies && fields.get("sliding_window") !== undefined) {
    const window = fields.integer("sliding_window", 1);
    if (Number.isInteger(window) && Number.isInteger(maxPositions)) maxPositions = Math.min(maxPositions, window);
  }

  // Step 4: biases, embeddings and special tokens.
  let attentionBias = architecture === "qwen2";
  if (architecture === "llama") attentionBias = fields.boolean("attention_bias", false);
  const tieWordEmbeddings = fields.boolean("tie_word_embeddings", false);
  const bosTokenId = fields.integer("bos_token_id", 0);
  const eosTokenIds = fields.tokenIds("eos_token_id");
  if (Number.isInteger(vocabSize)) {
    for (const [key, ids] of [
      ["bos_token_id", Number.isInteger(bosTokenId) ? [bosTokenId] : []],
      ["eos_token_id", eosTokenIds],
    ] as const) {
      for (const id of ids) if (id >= vocabSize) fields.problems.push(`${key} ${id} is outside the vocabulary of ${vocabSize} tokens`);
    }
  }

  // Step 5: features lcc does not implement.
  const activation = fields.get("hidden_act") ?? "silu";
  if (activation !== "silu") fields.problems.push(`hidden_act ${JSON.stringify(activation)} is not supported; only "silu" is`);
  if (fields.boolean("mlp_bias", false)) fields.problems.push("mlp_bias true is not supported; the MLP projections must have no bias");
  if (fields.boolean("rope_interleaved", false)) fields.problems.push("rope_interleaved true is not supported; only the rotate-half RoPE layout is");
  if (fields.get("quantization_config") !== undefined) {
    fields.problems.push("quantization_config is present, but lcc loads only float32, float16 and bfloat16 weights");
  }

  if (fields.problems.length > 0) {
    const noun = fields.problems.length === 1 ? "problem" : "problems";
    throw new UnsupportedModelError(
      `config.json of model "${name}" (${HF_CLASS[architecture]}) has ${fields.problems.length} ${noun}:\n` +
        `${fields.problems.map((problem) => `  - ${problem}`).join("\n")}\n` +
        "hint: compare it with the config.json published with the model",
      { details: { name, architecture, problems: [...fields.problems] } },
    );
  }

  return Object.freeze({
    architecture,
    name,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxPositions,
    ropeTheta,
    ropeScaling: ropeScaling === null ? null : Object.freeze(ropeScaling),
    rmsNormEps,
    attentionBias,
    tieWordEmbeddings,
    bosTokenId,
    eosTokenIds: Object.freeze([...eosTokenIds]),
  });
}

// ---------------------------------------------------------------------------
// Validation and writing
// ---------------------------------------------------------------------------

/** Lists every inconsistency of a LlamaConfig built in code; an empty list means valid. */
export function llamaConfigProblems(config: LlamaConfig): string[] {
  const problems: string[] = [];
  if (!Object.hasOwn(HF_CLASS, config.architecture)) {
    problems.push(`architecture ${JSON.stringify(config.architecture)} is not one of ${Object.keys(HF_CLASS).join(", ")}`);
  }
  if (typeof config.name !== "string" || config.name.length === 0) problems.push("name must be a non-empty string");
  const sizes = ["vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "headDim", "maxPositions"] as const;
  for (const key of sizes) {
    if (!Number.isSafeInteger(config[key]) || config[key] < 1) problems.push(`${key} must be a positive integer, found ${config[key]}`);
  }
  if (config.numHeads % config.numKvHeads !== 0) {
    problems.push(`numHeads (${config.numHeads}) must be a multiple of numKvHeads (${config.numKvHeads})`);
  }
  for (const key of ["ropeTheta", "rmsNormEps"] as const) {
    if (!Number.isFinite(config[key]) || config[key] <= 0) problems.push(`${key} must be a positive number, found ${config[key]}`);
  }

  const scaling = config.ropeScaling;
  if (scaling !== null) {
    if (!(scaling.factor > 0)) problems.push(`ropeScaling.factor must be positive, found ${scaling.factor}`);
    if (scaling.type === "llama3") {
      if (!(scaling.lowFreqFactor > 0 && scaling.highFreqFactor > scaling.lowFreqFactor)) {
        problems.push(`ropeScaling needs 0 < lowFreqFactor < highFreqFactor, found ${scaling.lowFreqFactor} and ${scaling.highFreqFactor}`);
      }
      if (!Number.isSafeInteger(scaling.originalMaxPositions) || scaling.originalMaxPositions < 1) {
        problems.push(`ropeScaling.originalMaxPositions must be a positive integer, found ${scaling.originalMaxPositions}`);
      }
    } else if (scaling.type !== "linear") {
      problems.push(`ropeScaling.type ${JSON.stringify((scaling as { type: unknown }).type)} is not "llama3" or "linear"`);
    }
  }

  if (config.architecture === "qwen2" && !config.attentionBias) problems.push("qwen2 models always have q, k and v biases; set attentionBias to true");
  if (config.architecture === "mistral" && config.attentionBias) problems.push("mistral models have no attention biases; set attentionBias to false");
  if (!Number.isSafeInteger(config.bosTokenId) || config.bosTokenId < 0 || config.bosTokenId >= config.vocabSize) {
    problems.push(`bosTokenId ${config.bosTokenId} is outside the vocabulary of ${config.vocabSize} tokens`);
  }
  if (config.eosTokenIds.length === 0) problems.push("eosTokenIds must list at least one token id");
  for (const id of config.eosTokenIds) {
    if (!Number.isSafeInteger(id) || id < 0 || id >= config.vocabSize) problems.push(`eos token id ${id} is outside the vocabulary of ${config.vocabSize} tokens`);
  }
  return problems;
}

/** Throws one InvalidArgumentError listing every problem of `config`. */
export function validateLlamaConfig(config: LlamaConfig): void {
  const problems = llamaConfigProblems(config);
  if (problems.length > 0) {
    throw new InvalidArgumentError(`invalid model config "${config.name}":\n${problems.map((problem) => `  - ${problem}`).join("\n")}`, {
      details: { name: config.name, problems },
    });
  }
}

/** Options of toHfConfig. */
export interface HfConfigOptions {
  /** Written as `torch_dtype`: the dtype of the weights stored next to the config. */
  readonly torchDtype?: "float32" | "float16" | "bfloat16";
}

/**
 * Converts a LlamaConfig into a Hugging Face `config.json` object that transformers
 * and parseHfConfig both read back to the same model.
 */
export function toHfConfig(config: LlamaConfig, options: HfConfigOptions = {}): Record<string, unknown> {
  validateLlamaConfig(config);

  const scaling = config.ropeScaling;
  let ropeScaling: Record<string, unknown> | null = null;
  if (scaling?.type === "llama3") {
    ropeScaling = {
      rope_type: "llama3",
      factor: scaling.factor,
      low_freq_factor: scaling.lowFreqFactor,
      high_freq_factor: scaling.highFreqFactor,
      original_max_position_embeddings: scaling.originalMaxPositions,
    };
  } else if (scaling?.type === "linear") {
    ropeScaling = { rope_type: "linear", factor: scaling.factor };
  }

  const hf: Record<string, unknown> = {
    architectures: [HF_CLASS[config.architecture]],
    model_type: config.architecture,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    hidden_act: "silu",
    max_position_embeddings: config.maxPositions,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: ropeScaling,
    tie_word_embeddings: config.tieWordEmbeddings,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : [...config.eosTokenIds],
  };
  if (config.architecture === "llama") {
    hf.attention_bias = config.attentionBias;
    hf.mlp_bias = false;
  }
  if (config.architecture === "mistral") hf.sliding_window = null;
  if (config.architecture === "qwen2") hf.use_sliding_window = false;
  if (options.torchDtype !== undefined) hf.torch_dtype = options.torchDtype;
  return hf;
}
