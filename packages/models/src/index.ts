/**
 * @lcc/models: Llama-family model loading (llama2.c checkpoints, safetensors, Hugging
 * Face configs), tokenizers, the prefill / decode graphs, sampling and generation.
 */

export * from "./config.js";
export * from "./errors.js";
export * from "./llama/graph.js";
export * from "./llama/graphs.js";
export * from "./llama/rope.js";
export * from "./generation/sampler.js";
export * from "./generation/language-model.js";
export * from "./generation/generate.js";
export * from "./load.js";
export * from "./hub/index.js";
export * from "./convert.js";
export * from "./safetensors/index.js";
export * from "./hf-config.js";
export * from "./model-families.js";
export * from "./hf-folder.js";
export * from "./random-model.js";
export * from "./llama2c/checkpoint.js";
export * from "./llama2c/tokenizer-convert.js";
export * from "./tokenizer.js";
export * from "./fingerprint.js";
