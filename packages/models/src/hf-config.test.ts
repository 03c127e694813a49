import { InvalidArgumentError } from "@lcc/tensor";
import { describe, expect, it } from "vitest";

import type { LlamaConfig } from "./config.js";
import { UnsupportedModelError } from "./errors.js";
import { parseHfConfig, toHfConfig } from "./hf-config.js";

// config.json files as published on the Hugging Face Hub for each model.

const LLAMA_31_8B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  hidden_act: "silu",
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  transformers_version: "4.43.0.dev0",
  use_cache: true,
  vocab_size: 128256,
};

const LLAMA_2_7B = {
  architectures: ["LlamaForCausalLM"],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 11008,
  max_position_embeddings: 4096,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 32,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  tie_word_embeddings: false,
  torch_dtype: "float16",
  transformers_version: "4.31.0.dev0",
  use_cache: true,
  vocab_size: 32000,
};

const MISTRAL_7B_V01 = {
  architectures: ["MistralForCausalLM"],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: "mistral",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  sliding_window: 4096,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  transformers_version: "4.34.0.dev0",
  use_cache: true,
  vocab_size: 32000,
};

const QWEN2_05B = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: "silu",
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 131072,
  max_window_layers: 24,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 131072,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.40.1",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const SMOLLM2_135M = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: "silu",
  hidden_size: 576,
  initializer_range: 0.041666666666666664,
  intermediate_size: 1536,
  is_llama_config: true,
  max_position_embeddings: 8192,
  model_type: "llama",
  num_attention_heads: 9,
  num_hidden_layers: 30,
  num_key_value_heads: 3,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_interleaved: false,
  rope_scaling: null,
  rope_theta: 100000,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.40.1",
  use_cache: true,
  vocab_size: 49152,
};

const TINYLLAMA_11B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  transformers_version: "4.35.0",
  use_cache: true,
  vocab_size: 32000,
};

function unsupportedError(json: unknown, name = "test/model"): UnsupportedModelError {
  let caught: unknown = null;
  try {
    parseHfConfig(json, name);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(UnsupportedModelError);
  expect((caught as Error).name).toBe("UnsupportedModelError");
  return caught as UnsupportedModelError;
}

describe("parseHfConfig on published configs", () => {
  it("reads Llama-3.1-8B with llama3 RoPE scaling", () => {
    const config = parseHfConfig(LLAMA_31_8B, "meta-llama/Llama-3.1-8B");
    expect(config).toEqual({
      architecture: "llama",
      name: "meta-llama/Llama-3.1-8B",
      vocabSize: 128256,
      hiddenSize: 4096,
      intermediateSize: 14336,
      numLayers: 32,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 128,
      maxPositions: 131072,
      ropeTheta: 500000,
      ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
      rmsNormEps: 1e-5,
      attentionBias: false,
      tieWordEmbeddings: false,
      bosTokenId: 128000,
      eosTokenIds: [128001],
    } satisfies LlamaConfig);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.eosTokenIds)).toBe(true);
  });

  it("reads a list of eos token ids (Llama-3.1-8B-Instruct)", () => {
    const config = parseHfConfig({ ...LLAMA_31_8B, eos_token_id: [128001, 128008, 128009] }, "meta-llama/Llama-3.1-8B-Instruct");
    expect(config.eosTokenIds).toEqual([128001, 128008, 128009]);
  });

  it("reads Llama-2-7B with the default rope_theta", () => {
    const config = parseHfConfig(LLAMA_2_7B, "meta-llama/Llama-2-7b-hf");
    expect(config.ropeTheta).toBe(10000);
    expect(config.ropeScaling).toBeNull();
    expect(config.numKvHeads).toBe(32);
    expect(config.headDim).toBe(128);
    expect(config.intermediateSize).toBe(11008);
    expect(config.maxPositions).toBe(4096);
  });

  it("reads Mistral-7B and caps the context at its sliding window", () => {
    const config = parseHfConfig(MISTRAL_7B_V01, "mistralai/Mistral-7B-v0.1");
    expect(config.architecture).toBe("mistral");
    expect(config.numKvHeads).toBe(8);
    expect(config.headDim).toBe(128);
    expect(config.maxPositions).toBe(4096);
    expect(config.attentionBias).toBe(false);
    expect(config.ropeTheta).toBe(10000);

    const noWindow = parseHfConfig({ ...MISTRAL_7B_V01, sliding_window: null, vocab_size: 32768, rope_theta: 1e6 }, "mistralai/Mistral-7B-v0.3");
    expect(noWindow.maxPositions).toBe(32768);
    expect(noWindow.vocabSize).toBe(32768);
  });

  it("reads Qwen2-0.5B with attention biases and tied embeddings", () => {
    const config = parseHfConfig(QWEN2_05B, "Qwen/Qwen2-0.5B");
    expect(config).toEqual({
      architecture: "qwen2",
      name: "Qwen/Qwen2-0.5B",
      vocabSize: 151936,
      hiddenSize: 896,
      intermediateSize: 4864,
      numLayers: 24,
      numHeads: 14,
      numKvHeads: 2,
      headDim: 64,
      maxPositions: 131072,
      ropeTheta: 1000000,
      ropeScaling: null,
      rmsNormEps: 1e-6,
      attentionBias: true,
      tieWordEmbeddings: true,
      bosTokenId: 151643,
      eosTokenIds: [151643],
    } satisfies LlamaConfig);
  });

  it("reads SmolLM2-135M as a llama model", () => {
    const config = parseHfConfig(SMOLLM2_135M, "HuggingFaceTB/SmolLM2-135M");
    expect(config.architecture).toBe("llama");
    expect(config.hiddenSize).toBe(576);
    expect(config.numLayers).toBe(30);
    expect(config.numHeads).toBe(9);
    expect(config.numKvHeads).toBe(3);
    expect(config.headDim).toBe(64);
    expect(config.ropeTheta).toBe(100000);
    expect(config.tieWordEmbeddings).toBe(true);
    expect(config.bosTokenId).toBe(0);
    expect(config.eosTokenIds).toEqual([0]);
    expect(config.maxPositions).toBe(8192);
  });

  it("reads TinyLlama-1.1B as a llama model", () => {
    const config = parseHfConfig(TINYLLAMA_11B, "TinyLlama/TinyLlama-1.1B-Chat-v1.0");
    expect(config.architecture).toBe("llama");
    expect(config.numLayers).toBe(22);
    expect(config.numHeads).toBe(32);
    expect(config.numKvHeads).toBe(4);
    expect(config.headDim).toBe(64);
    expect(config.intermediateSize).toBe(5632);
    expect(config.tieWordEmbeddings).toBe(false);
    expect(config.maxPositions).toBe(2048);
  });
});

describe("parseHfConfig options and defaults", () => {
  it("reads linear RoPE scaling written with type", () => {
    const config = parseHfConfig({ ...LLAMA_2_7B, rope_scaling: { type: "linear", factor: 2.0 } }, "linear");
    expect(config.ropeScaling).toEqual({ type: "linear", factor: 2 });
  });

  it("treats rope_type default as no scaling", () => {
    expect(parseHfConfig({ ...LLAMA_2_7B, rope_scaling: { rope_type: "default" } }, "x").ropeScaling).toBeNull();
  });

  it("defaults num_key_value_heads and head_dim", () => {
    const { num_key_value_heads: _removed, ...json } = TINYLLAMA_11B;
    const config = parseHfConfig(json, "x");
    expect(config.numKvHeads).toBe(32);
    expect(config.headDim).toBe(64);
  });

  it("keeps an explicit head_dim", () => {
    expect(parseHfConfig({ ...MISTRAL_7B_V01, hidden_size: 5120, head_dim: 128 }, "x").headDim).toBe(128);
  });

  it("reads attention_bias for llama", () => {
    expect(parseHfConfig({ ...TINYLLAMA_11B, attention_bias: true }, "x").attentionBias).toBe(true);
  });

  it("falls back to model_type without architectures", () => {
    const { architectures: _removed, ...json } = QWEN2_05B;
    expect(parseHfConfig(json, "x").architecture).toBe("qwen2");
  });

  it("applies the Qwen2 sliding window only when enabled", () => {
    expect(parseHfConfig({ ...QWEN2_05B, sliding_window: 4096 }, "x").maxPositions).toBe(131072);
    expect(parseHfConfig({ ...QWEN2_05B, sliding_window: 4096, use_sliding_window: true }, "x").maxPositions).toBe(4096);
  });
});

describe("parseHfConfig errors", () => {
  it("rejects an unknown architecture, listing the supported ones", () => {
    const error = unsupportedError({ architectures: ["GPT2LMHeadModel"], model_type: "gpt2" }, "openai-community/gpt2");
    expect(error.message).toMatch(/model "openai-community\/gpt2" has architectures \["GPT2LMHeadModel"\], which lcc does not support/);
    expect(error.message).toMatch(/LlamaForCausalLM \(model_type "llama"\), MistralForCausalLM \(model_type "mistral"\), Qwen2ForCausalLM \(model_type "qwen2"\)/);
  });

  it("rejects a config without architectures or a known model_type", () => {
    const error = unsupportedError({ model_type: "phi3" });
    expect(error.message).toMatch(/model_type "phi3" and no architectures list/);
  });

  it("rejects a config that is not an object", () => {
    expect(unsupportedError([1, 2]).message).toMatch(/must be a JSON object, found an array/);
  });

  it("rejects sizes beyond the model limits", () => {
    const error = unsupportedError({ ...LLAMA_31_8B, num_hidden_layers: 1_000_000_000, vocab_size: 10_000_000 });
    expect(error.message).toContain("num_hidden_layers must be at most 1024, found 1000000000");
    expect(error.message).toContain("vocab_size must be at most 4194304, found 10000000");
  });

  it("reports every missing and invalid field at once", () => {
    const {
      vocab_size: _vocab,
      rms_norm_eps: _eps,
      ...json
    } = LLAMA_31_8B;
    const error = unsupportedError({
      ...json,
      hidden_size: 4096.5,
      num_key_value_heads: 5,
      eos_token_id: [],
      hidden_act: "gelu",
      tie_word_embeddings: "yes",
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1 },
    });
    const problems = [
      /vocab_size is missing/,
      /hidden_size must be an integer >= 1, found 4096\.5/,
      /num_attention_heads \(32\) must be a multiple of num_key_value_heads \(5\)/,
      /rms_norm_eps is missing/,
      /rope_scaling\.original_max_position_embeddings is missing/,
      /rope_scaling\.high_freq_factor \(1\) must be greater than low_freq_factor \(4\)/,
      /eos_token_id must be a token id or a non-empty list of token ids, found \[\]/,
      /tie_word_embeddings must be true or false, found "yes"/,
      /hidden_act "gelu" is not supported/,
    ];
    for (const problem of problems) expect(error.message).toMatch(problem);
    expect(error.message).toMatch(/has 9 problems:/);
    expect(error.details.problems).toHaveLength(9);
  });

  it("rejects unsupported features", () => {
    const error = unsupportedError({
      ...TINYLLAMA_11B,
      mlp_bias: true,
      rope_interleaved: true,
      rope_scaling: { rope_type: "yarn", factor: 4 },
      quantization_config: { quant_method: "gptq" },
      bos_token_id: 32000,
    });
    expect(error.message).toMatch(/mlp_bias true is not supported/);
    expect(error.message).toMatch(/rope_interleaved true is not supported/);
    expect(error.message).toMatch(/rope_scaling type "yarn" is not supported/);
    expect(error.message).toMatch(/quantization_config is present/);
    expect(error.message).toMatch(/bos_token_id 32000 is outside the vocabulary of 32000 tokens/);
  });

  it("rejects a model_type that contradicts the architecture", () => {
    expect(unsupportedError({ ...TINYLLAMA_11B, model_type: "qwen2" }).message).toMatch(
      /model_type "qwen2" does not match LlamaForCausalLM, whose model_type is "llama"/,
    );
  });
});

describe("toHfConfig", () => {
  const published = [
    ["meta-llama/Llama-3.1-8B", LLAMA_31_8B],
    ["meta-llama/Llama-2-7b-hf", LLAMA_2_7B],
    ["mistralai/Mistral-7B-v0.1", MISTRAL_7B_V01],
    ["Qwen/Qwen2-0.5B", QWEN2_05B],
    ["HuggingFaceTB/SmolLM2-135M", SMOLLM2_135M],
    ["TinyLlama/TinyLlama-1.1B-Chat-v1.0", TINYLLAMA_11B],
  ] as const;

  for (const [name, json] of published) {
    it(`round-trips ${name}`, () => {
      const config = parseHfConfig(json, name);
      expect(parseHfConfig(toHfConfig(config), name)).toEqual(config);
    });
  }

  it("writes the transformers field names", () => {
    const hf = toHfConfig(parseHfConfig({ ...LLAMA_31_8B, eos_token_id: [128001, 128009] }, "x"), { torchDtype: "bfloat16" });
    expect(hf).toMatchObject({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      num_key_value_heads: 8,
      head_dim: 128,
      rope_theta: 500000,
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
      eos_token_id: [128001, 128009],
      bos_token_id: 128000,
      attention_bias: false,
      torch_dtype: "bfloat16",
    });
    expect(toHfConfig(parseHfConfig(QWEN2_05B, "q"))).toMatchObject({ architectures: ["Qwen2ForCausalLM"], eos_token_id: 151643, use_sliding_window: false });
  });

  it("rejects an inconsistent config, listing every problem", () => {
    const config: LlamaConfig = { ...parseHfConfig(QWEN2_05B, "q"), attentionBias: false, numKvHeads: 4, eosTokenIds: [] };
    let caught: unknown = null;
    try {
      toHfConfig(config);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    expect((caught as Error).message).toMatch(/numHeads \(14\) must be a multiple of numKvHeads \(4\)/);
    expect((caught as Error).message).toMatch(/qwen2 models always have q, k and v biases/);
    expect((caught as Error).message).toMatch(/eosTokenIds must list at least one token id/);
  });
});
