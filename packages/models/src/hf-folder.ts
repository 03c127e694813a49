/**
 * Hugging Face model folders: `config.json` plus `model.safetensors`, or a sharded
 * checkpoint listed in `model.safetensors.index.json`. Tokenizer files in the same
 * folder are read and written by the tokenizer code, not here.
 */

import { mkdir, readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";

import { type DType, InvalidArgumentError, type Shape, type Tensor, castTensor, formatShape } from "@lcc/tensor";

import { type LlamaConfig, type LoadedModel, expectedWeightShapes } from "./config.js";
import { ModelLoadError } from "./errors.js";
import { parseHfConfig, toHfConfig, validateLlamaConfig } from "./hf-config.js";
import { writeTextFileAtomic } from "./safetensors/atomic-write.js";
import { readSafetensors, readSafetensorsHeader } from "./safetensors/read.js";
import { SAFETENSORS_INDEX_FILE, readShardedHeaders, readShardedSafetensors } from "./safetensors/sharded.js";
import { writeSafetensors } from "./safetensors/write.js";

export const HF_CONFIG_FILE = "config.json";
export const HF_WEIGHTS_FILE = "model.safetensors";

/** Weight dtypes a Hugging Face folder may store. */
export type HfWeightDType = "float32" | "float16" | "bfloat16";
const WEIGHT_DTYPES: readonly DType[] = ["float32", "float16", "bfloat16"];

/** Name, dtype and shape of one stored weight, known before its data is read. */
interface WeightDescription {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

/**
 * True for weights that checkpoints may contain but the model does not use: RoPE
 * frequency buffers that old transformers versions saved, and `lm_head.weight` when
 * the embeddings are tied (transformers replaces it with the embedding matrix on load).
 */
function isIgnoredWeight(name: string, config: LlamaConfig): boolean {
  return name.endsWith(".rotary_emb.inv_freq") || (config.tieWordEmbeddings && name === "lm_head.weight");
}

/**
 * Compares stored or given weights with the ones `config` requires. Returns one line per
 * missing, unexpected, wrongly shaped or non-float weight.
 */
export function weightProblems(config: LlamaConfig, weights: Iterable<WeightDescription>): string[] {
  const expected = expectedWeightShapes(config);
  const seen = new Set<string>();
  const unexpected: string[] = [];
  const wrong: string[] = [];
  for (const weight of weights) {
    const shape = expected.get(weight.name);
    if (shape === undefined) {
      if (!isIgnoredWeight(weight.name, config)) unexpected.push(`unexpected weight "${weight.name}" ${formatShape(weight.shape)}`);
      continue;
    }
    seen.add(weight.name);
    if (weight.shape.length !== shape.length || weight.shape.some((dim, i) => dim !== shape[i])) {
      wrong.push(`weight "${weight.name}" has shape ${formatShape(weight.shape)} but the config requires ${formatShape(shape)}`);
    }
    if (!WEIGHT_DTYPES.includes(weight.dtype)) {
      wrong.push(`weight "${weight.name}" has dtype ${weight.dtype}; only ${WEIGHT_DTYPES.join(", ")} are supported`);
    }
  }
  const missing = [...expected.entries()]
    .filter(([name]) => !seen.has(name))
    .map(([name, shape]) => `missing weight "${name}" ${formatShape(shape)}`);
  return [...missing, ...unexpected, ...wrong];
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (info) => info.isFile(),
    () => false,
  );
}

async function readConfigJson(folder: string): Promise<unknown> {
  const file = path.join(folder, HF_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelLoadError(
      `${file} ${code === "ENOENT" ? "not found" : `cannot be read (${code})`}\nhint: a Hugging Face model folder needs config.json next to its weights`,
      { cause: error, details: { path: file } },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(error as Error).message}`, { cause: error, details: { path: file } });
  }
}

/** Finds the weights file of a folder: model.safetensors first, then the sharded index. */
async function findWeights(folder: string): Promise<{ kind: "single" | "sharded"; file: string }> {
  const single = path.join(folder, HF_WEIGHTS_FILE);
  if (await isFile(single)) return { kind: "single", file: single };
  const index = path.join(folder, SAFETENSORS_INDEX_FILE);
  if (await isFile(index)) return { kind: "sharded", file: index };

  const entries = await readdir(folder).catch(() => [] as string[]);
  const pickle = entries.filter((entry) => entry.endsWith(".bin") || entry.endsWith(".pt") || entry.endsWith(".pth"));
  const hint =
    pickle.length > 0
      ? `hint: ${pickle.join(", ")} use PyTorch's pickle format, which lcc does not read; save the model with safe_serialization=True`
      : "hint: download the model's .safetensors files into this folder";
  throw new ModelLoadError(`no weights found in ${folder}: expected ${HF_WEIGHTS_FILE} or ${SAFETENSORS_INDEX_FILE}\n${hint}`, {
    details: { path: folder },
  });
}

/** Reads the names, dtypes and shapes of every stored weight without reading data. */
async function describeWeights(weights: { kind: "single" | "sharded"; file: string }): Promise<WeightDescription[]> {
  if (weights.kind === "single") return [...(await readSafetensorsHeader(weights.file)).entries];
  const { shards } = await readShardedHeaders(weights.file);
  return [...shards.values()].flatMap((header) => header.entries);
}

/** Options of loadHfFolder. */
export interface LoadHfFolderOptions {
  /** Model name for messages and the config; defaults to the folder's base name. */
  readonly name?: string;
}

/**
 * Loads a Hugging Face model folder. Weights keep their file dtype (float32, float16 or
 * bfloat16). Every required weight is checked by name and shape before tensor data is
 * read, and all missing, unexpected and wrongly shaped weights are reported in one
 * ModelLoadError.
 */
export async function loadHfFolder(folder: string, options: LoadHfFolderOptions = {}): Promise<LoadedModel> {
  // Step 1: the folder and its config.
  const info = await stat(folder).catch(() => null);
  if (info === null || !info.isDirectory()) {
    throw new ModelLoadError(`model folder ${folder} ${info === null ? "not found" : "is not a directory"}`, { details: { path: folder } });
  }
  const name = options.name ?? path.basename(path.resolve(folder));
  const config = parseHfConfig(await readConfigJson(folder), name);

  // Step 2: compare the stored weights with the config before reading their data.
  const weightsFile = await findWeights(folder);
  const problems = weightProblems(config, await describeWeights(weightsFile));
  if (problems.length > 0) {
    const noun = problems.length === 1 ? "problem" : "problems";
    throw new ModelLoadError(
      `weights of ${folder} do not match its config.json (${problems.length} ${noun}):\n${problems.map((problem) => `  - ${problem}`).join("\n")}\n` +
        "hint: the weights and config.json must come from the same model and revision",
      { details: { path: folder, problems } },
    );
  }

  // Step 3: read the data and keep the required weights in their canonical order.
  const stored = weightsFile.kind === "single" ? await readSafetensors(weightsFile.file) : await readShardedSafetensors(weightsFile.file);
  const weights = new Map<string, Tensor>();
  for (const weightName of expectedWeightShapes(config).keys()) {
    const tensor = stored.get(weightName);
    if (tensor === undefined) throw new ModelLoadError(`weight "${weightName}" disappeared from ${weightsFile.file} while loading`);
    weights.set(weightName, tensor);
  }
  return Object.freeze({ config, weights });
}

// ---------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------

/** Options of saveHfFolder. */
export interface SaveHfFolderOptions {
  /** Dtype of the stored weights; by default each weight keeps its own dtype. */
  readonly dtype?: HfWeightDType;
}

/**
 * Writes `config.json` and `model.safetensors` for `model` into `folder` (created if
 * needed), each replaced atomically, the weights first. Weights are converted to
 * `options.dtype` when given, rounding to nearest even.
 */
export async function saveHfFolder(folder: string, model: LoadedModel, options: SaveHfFolderOptions = {}): Promise<void> {
  // Step 1: check the arguments.
  const { config } = model;
  validateLlamaConfig(config);
  if (options.dtype !== undefined && !WEIGHT_DTYPES.includes(options.dtype)) {
    throw new InvalidArgumentError(`dtype must be one of ${WEIGHT_DTYPES.join(", ")}, found ${JSON.stringify(options.dtype)}`);
  }
  const modelWeights = [...model.weights].map(([name, tensor]) => ({ name, dtype: tensor.dtype, shape: tensor.shape }));
  const problems = weightProblems(config, modelWeights);
  if (problems.length > 0) {
    throw new InvalidArgumentError(`cannot save model "${config.name}":\n${problems.map((problem) => `  - ${problem}`).join("\n")}`, {
      details: { path: folder, problems },
    });
  }

  // Step 2: convert the weights, in canonical order, to the requested dtype.
  const weights = new Map<string, Tensor>();
  for (const name of expectedWeightShapes(config).keys()) {
    const tensor = model.weights.get(name) as Tensor;
    weights.set(name, options.dtype === undefined || tensor.dtype === options.dtype ? tensor : castTensor(tensor, options.dtype));
  }
  const dtypes = new Set([...weights.values()].map((tensor) => tensor.dtype));
  const torchDtype = dtypes.size === 1 ? ([...dtypes][0] as HfWeightDType) : undefined;

  // Step 3: write the weights, then the config that describes them.
  await mkdir(folder, { recursive: true });
  await writeSafetensors(path.join(folder, HF_WEIGHTS_FILE), weights, { format: "pt" });
  const hfConfig = toHfConfig(config, torchDtype === undefined ? {} : { torchDtype });
  await writeTextFileAtomic(path.join(folder, HF_CONFIG_FILE), `${JSON.stringify(hfConfig, null, 2)}\n`);
}
