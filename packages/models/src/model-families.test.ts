import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { InvalidArgumentError } from "@lcc/tensor";
import { describe, expect, it } from "vitest";
import { convertToHfFolder } from "./convert.js";
import { UnsupportedModelError } from "./errors.js";
import { parseHfConfig } from "./hf-config.js";
import { loadModel } from "./load.js";
import { listModelFamilies, registerModelFamily } from "./model-families.js";
import { sharedPath } from "./test/shared.js";

/** A Llama config written under another class name, with the RoPE base under another key. */
const VARIANT_CONFIG = {
  architectures: ["VariantLlamaForCausalLM"],
  model_type: "variant_llama",
  vocab_size: 512,
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 5,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rotary_base: 5000,
  bos_token_id: 1,
  eos_token_id: 2,
};

registerModelFamily({
  name: "variant-llama",
  architectures: ["VariantLlamaForCausalLM"],
  modelTypes: ["variant_llama"],
  toSupportedConfig(config) {
    const { rotary_base: ropeTheta, ...rest } = config;
    return { ...rest, architectures: ["LlamaForCausalLM"], model_type: "llama", rope_theta: ropeTheta };
  },
});

describe("model families", () => {
  it("maps a claimed architecture onto the Llama config", () => {
    const config = parseHfConfig(VARIANT_CONFIG, "variant");
    expect(config.architecture).toBe("llama");
    expect(config.ropeTheta).toBe(5000);
    expect(config.numKvHeads).toBe(4);
    expect(listModelFamilies()).toContain("variant-llama");
  });

  it("matches on model_type when no class name is given", () => {
    const { architectures: _unused, ...withoutClasses } = VARIANT_CONFIG;
    expect(parseHfConfig(withoutClasses, "variant").ropeTheta).toBe(5000);
  });

  it("leaves other configs alone and keeps the unsupported-architecture error", () => {
    expect(() => parseHfConfig({ ...VARIANT_CONFIG, architectures: ["GPT2LMHeadModel"], model_type: "gpt2" }, "gpt")).toThrow(
      UnsupportedModelError,
    );
    expect(() => parseHfConfig({ ...VARIANT_CONFIG, architectures: ["GPT2LMHeadModel"], model_type: "gpt2" }, "gpt")).toThrow(
      /which lcc does not support/,
    );
  });

  it("loads a converted checkpoint whose config uses the family", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "lcc-family-"));
    await convertToHfFolder(await loadModel(sharedPath("models", "stories260K")), folder);
    const original = JSON.parse(await readFile(path.join(folder, "config.json"), "utf8")) as Record<string, unknown>;
    const { rope_theta: ropeTheta, ...rest } = original;
    await writeFile(
      path.join(folder, "config.json"),
      JSON.stringify({ ...rest, architectures: ["VariantLlamaForCausalLM"], model_type: "variant_llama", rotary_base: ropeTheta }),
    );
    const resolved = await loadModel(folder);
    expect(resolved.model.config.architecture).toBe("llama");
    expect(resolved.model.config.ropeTheta).toBe(10000);
  });

  it("rejects invalid and conflicting families", () => {
    const valid = {
      name: "other",
      architectures: ["OtherForCausalLM"],
      modelTypes: [],
      toSupportedConfig: (config: Record<string, unknown>) => config,
    };
    expect(() => registerModelFamily({ ...valid, name: "", toSupportedConfig: "no" as never })).toThrow(InvalidArgumentError);
    expect(() => registerModelFamily({ ...valid, name: "", toSupportedConfig: "no" as never })).toThrow(
      /invalid model family "": name must be a non-empty string; toSupportedConfig must be a function/,
    );
    expect(() => registerModelFamily({ ...valid, architectures: ["LlamaForCausalLM"], modelTypes: ["qwen2"] })).toThrow(
      /architecture "LlamaForCausalLM" is built in and cannot be claimed; model_type "qwen2" is built in and cannot be claimed/,
    );
    expect(() => registerModelFamily({ ...valid, architectures: [], modelTypes: [] })).toThrow(/would never apply/);
    expect(() => registerModelFamily({ ...valid, name: "variant-llama" })).toThrow(
      /claims the name "variant-llama", already claimed by model family "variant-llama"/,
    );
    expect(() => registerModelFamily({ ...valid, modelTypes: ["variant_llama"] })).toThrow(
      /claims model_type "variant_llama", already claimed by model family "variant-llama"/,
    );
  });

  it("reports a hook that throws or returns no object", () => {
    registerModelFamily({
      name: "throws",
      architectures: ["ThrowsForCausalLM"],
      modelTypes: [],
      toSupportedConfig: () => {
        throw new Error("missing field foo");
      },
    });
    registerModelFamily({
      name: "returns-array",
      architectures: ["ArrayForCausalLM"],
      modelTypes: [],
      toSupportedConfig: () => [] as never,
    });
    expect(() => parseHfConfig({ ...VARIANT_CONFIG, architectures: ["ThrowsForCausalLM"] }, "m")).toThrow(
      /model family "throws" failed to map the config.json of model "m": missing field foo/,
    );
    expect(() => parseHfConfig({ ...VARIANT_CONFIG, architectures: ["ArrayForCausalLM"] }, "m")).toThrow(
      /model family "returns-array" returned an array/,
    );
  });
});
