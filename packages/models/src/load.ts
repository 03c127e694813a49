/**
 * Finds and loads a model and its tokenizer from a path or a name in a models folder.
 *
 * Accepted layouts:
 * - a Hugging Face folder: config.json, model.safetensors (or a sharded index), tokenizer.json;
 * - a llama2.c checkpoint file (`*.bin`), or a folder holding one, with its tokenizer beside
 *   it as tokenizer.json, a llama2.c `tok*.bin` / `tokenizer.bin`, or a SentencePiece `*.model`.
 *
 * A name is looked up as an existing path, then in the models folder ($LCC_MODELS), then
 * in the download cache, and a known model or hub id is downloaded on first use unless
 * LCC_OFFLINE is "1".
 */

import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import type { LoadedModel } from "./config.js";
import { ModelLoadError, TokenizerError } from "./errors.js";
import { loadHfFolder } from "./hf-folder.js";
import type { PullProgressEvent } from "./hub/download.js";
import { findCachedModel, pullModel } from "./hub/pull.js";
import { modelCacheDir, parseModelReference } from "./hub/reference.js";
import { loadLlama2cCheckpoint } from "./llama2c/checkpoint.js";
import { LLAMA2C_TOKENIZER_CONFIG, convertLlama2cTokenizer, convertSentencePieceModel } from "./llama2c/tokenizer-convert.js";
import { TextTokenizer } from "./tokenizer.js";

export type ModelFormat = "huggingface" | "llama2c";

export interface ResolvedModel {
  readonly model: LoadedModel;
  readonly tokenizer: TextTokenizer;
  readonly format: ModelFormat;
  /** The file or folder the weights were read from. */
  readonly path: string;
}

export interface LoadModelOptions {
  /** Folder searched for bare model names. Default: the LCC_MODELS environment variable. */
  readonly modelsDir?: string;
  /** lcc cache root holding downloaded models in `models/`. Default: $LCC_CACHE_DIR, else ~/.cache/lcc. */
  readonly cacheDir?: string;
  /** Never download a missing model. Default: true when LCC_OFFLINE is "1". */
  readonly offline?: boolean;
  /** Hub base URL for downloads. Default: $LCC_HUB_URL, else https://huggingface.co. */
  readonly hubUrl?: string;
  /** Receives download progress when the model is pulled on first use. */
  readonly onDownloadProgress?: (event: PullProgressEvent) => void;
  /** Cancels a download on first use. */
  readonly signal?: AbortSignal;
}

async function kind(target: string): Promise<"file" | "directory" | null> {
  try {
    const info = await stat(target);
    return info.isDirectory() ? "directory" : info.isFile() ? "file" : null;
  } catch {
    return null;
  }
}

/** Turns a path or a model name into an existing path. */
export async function resolveModelPath(source: string, options: LoadModelOptions = {}): Promise<string> {
  if ((await kind(source)) !== null) return path.resolve(source);
  const modelsDir = options.modelsDir ?? process.env.LCC_MODELS;
  if (modelsDir !== undefined && modelsDir !== "") {
    const candidate = path.join(modelsDir, source);
    if ((await kind(candidate)) !== null) return path.resolve(candidate);
  }

  // Known models and hub ids: the download cache, then a download on first use.
  const reference = parseModelReference(source);
  if (reference !== null) {
    const cached = await findCachedModel(source, { cacheDir: options.cacheDir });
    if (cached !== null) return cached;
    if (options.offline ?? process.env.LCC_OFFLINE === "1") {
      const models = modelsDir ? `the models folder ${modelsDir} or ` : "";
      throw new ModelLoadError(
        `model "${source}" is not in ${models}the download cache ${modelCacheDir(options.cacheDir)}, and offline mode (LCC_OFFLINE=1) forbids downloading it\n` +
          `hint: run "lcc models pull ${source}" while online, or set LCC_MODELS to a folder that contains "${source}"`,
        { details: { source, modelsDir, offline: true } },
      );
    }
    const pulled = await pullModel(source, {
      cacheDir: options.cacheDir,
      hubUrl: options.hubUrl,
      onProgress: options.onDownloadProgress,
      signal: options.signal,
      offline: false,
    });
    return pulled.path;
  }

  const searched = modelsDir ? ` or in the models folder ${modelsDir}` : "";
  throw new ModelLoadError(
    `model "${source}" was not found as a path${searched}; pass a model folder or checkpoint path, or set LCC_MODELS to a folder that contains "${source}"`,
    { details: { source, modelsDir } },
  );
}

/** Loads weights and tokenizer from a path or a name (see the module comment for layouts). */
export async function loadModel(source: string, options: LoadModelOptions = {}): Promise<ResolvedModel> {
  const resolved = await resolveModelPath(source, options);
  const name = path.basename(resolved).replace(/\.bin$/, "");

  if ((await kind(resolved)) === "directory") {
    if ((await kind(path.join(resolved, "config.json"))) === "file") {
      const model = await loadHfFolder(resolved);
      const tokenizer = await TextTokenizer.fromFile(path.join(resolved, "tokenizer.json"));
      return { model, tokenizer, format: "huggingface", path: resolved };
    }
    const checkpoint = await findLlama2cCheckpoint(resolved);
    const model = await loadLlama2cCheckpoint(checkpoint, { name });
    return { model, tokenizer: await findTokenizer(resolved, model), format: "llama2c", path: checkpoint };
  }

  const model = await loadLlama2cCheckpoint(resolved, { name });
  return { model, tokenizer: await findTokenizer(path.dirname(resolved), model), format: "llama2c", path: resolved };
}

async function findLlama2cCheckpoint(folder: string): Promise<string> {
  const entries = await readdir(folder);
  const checkpoints = entries.filter((f) => f.endsWith(".bin") && !/^tok.*\.bin$/.test(f) && f !== "tokenizer.bin");
  if (checkpoints.length !== 1) {
    throw new ModelLoadError(
      checkpoints.length === 0
        ? `${folder} has neither a config.json nor a llama2.c checkpoint (*.bin); point --model at a Hugging Face model folder or a checkpoint`
        : `${folder} holds several llama2.c checkpoints (${checkpoints.join(", ")}); point --model at one of them`,
    );
  }
  return path.join(folder, checkpoints[0] as string);
}

/** Loads the tokenizer beside a llama2.c checkpoint, trying the known file names in order of preference. */
async function findTokenizer(folder: string, model: LoadedModel): Promise<TextTokenizer> {
  const entries = new Set(await readdir(folder));
  if (entries.has("tokenizer.json")) return TextTokenizer.fromFile(path.join(folder, "tokenizer.json"));
  const vocabSize = model.config.vocabSize;
  for (const candidate of [`tok${vocabSize}.bin`, "tokenizer.bin"]) {
    if (entries.has(candidate)) return TextTokenizer.fromJson(convertLlama2cTokenizer(path.join(folder, candidate)), LLAMA2C_TOKENIZER_CONFIG);
  }
  for (const candidate of [`tok${vocabSize}.model`, "tokenizer.model"]) {
    if (entries.has(candidate)) return TextTokenizer.fromJson(convertSentencePieceModel(path.join(folder, candidate)), LLAMA2C_TOKENIZER_CONFIG);
  }
  throw new TokenizerError(
    `no tokenizer was found beside the checkpoint in ${folder}; expected tokenizer.json, tok${vocabSize}.bin, tokenizer.bin or a SentencePiece .model file`,
  );
}
