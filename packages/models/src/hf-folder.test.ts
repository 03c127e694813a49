import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { InvalidArgumentError, Tensor, fromBFloat16, fromFloat16 } from "@lcc/tensor";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { type LlamaConfig, type LoadedModel, expectedWeightShapes } from "./config.js";
import { ModelLoadError, UnsupportedModelError } from "./errors.js";
import { toHfConfig } from "./hf-config.js";
import { loadHfFolder, saveHfFolder } from "./hf-folder.js";
import { createRandomModel, randomConfig } from "./random-model.js";
import { readSafetensorsWithMetadata } from "./safetensors/read.js";
import { writeShardedSafetensors } from "./safetensors/sharded.js";
import { writeSafetensors } from "./safetensors/write.js";

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "lcc-hf-folder-"));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Returns the tensor called `name`, failing the test when it is absent. */
function tensorNamed(tensors: ReadonlyMap<string, Tensor>, name: string): Tensor {
  const tensor = tensors.get(name);
  if (tensor === undefined) throw new Error(`tensor "${name}" is missing`);
  return tensor;
}

/** Creates a tiny Qwen2-style model: grouped-query attention (4 heads, 2 KV heads) and q/k/v biases. */
function tinyQwen2(): LoadedModel {
  return createRandomModel(randomConfig({ architecture: "qwen2", name: "tiny-qwen2" }), 1234);
}

async function writeFolder(config: LlamaConfig, weights: Map<string, Tensor>): Promise<void> {
  await writeFile(path.join(folder, "config.json"), JSON.stringify(toHfConfig(config)));
  await writeSafetensors(path.join(folder, "model.safetensors"), weights, { format: "pt" });
}

async function loadError(): Promise<ModelLoadError> {
  const error = await loadHfFolder(folder).then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ModelLoadError);
  expect((error as Error).name).toBe("ModelLoadError");
  return error as ModelLoadError;
}

/** Indices where |actual - expected| > rtol·|expected| + atol, with the first few shown in failures. */
function outOfTolerance(actual: Float32Array, expected: Float32Array, rtol: number, atol: number): string[] {
  const failures: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const reference = expected[i] as number;
    const value = actual[i] as number;
    if (!(Math.abs(value - reference) <= rtol * Math.abs(reference) + atol)) failures.push(`[${i}] ${value} vs ${reference}`);
  }
  return failures.slice(0, 5);
}

describe("saveHfFolder and loadHfFolder", () => {
  it("round-trips a float32 model bit for bit", async () => {
    const model = tinyQwen2();
    await saveHfFolder(folder, model);

    expect((await readdir(folder)).sort()).toEqual(["config.json", "model.safetensors"]);
    const hfConfig = JSON.parse(await readFile(path.join(folder, "config.json"), "utf8"));
    expect(hfConfig.architectures).toEqual(["Qwen2ForCausalLM"]);
    expect(hfConfig.torch_dtype).toBe("float32");
    expect(hfConfig.num_key_value_heads).toBe(2);

    const loaded = await loadHfFolder(folder, { name: "tiny-qwen2" });
    expect(loaded.config).toEqual(model.config);
    expect([...loaded.weights.keys()]).toEqual([...expectedWeightShapes(model.config).keys()]);
    expect(loaded.weights.has("model.layers.1.self_attn.k_proj.bias")).toBe(true);
    for (const [name, tensor] of model.weights) {
      const copy = tensorNamed(loaded.weights, name);
      expect(copy.dtype).toBe("float32");
      expect(copy.shape).toEqual(tensor.shape);
      expect(new Uint32Array((copy.data as Float32Array).buffer)).toEqual(new Uint32Array((tensor.data as Float32Array).buffer));
    }
  });

  // Rounding to nearest keeps each value within half a unit in the last place: a relative
  // 2^-11 (float16) or 2^-8 (bfloat16), and 2^-25 absolute among float16 subnormals.
  for (const [dtype, decode, rtol, atol] of [
    ["float16", fromFloat16, 2 ** -11, 2 ** -25],
    ["bfloat16", fromBFloat16, 2 ** -8, 0],
  ] as const) {
    it(`stores ${dtype} weights and loads them in ${dtype}`, async () => {
      const model = tinyQwen2();
      await saveHfFolder(folder, model, { dtype });

      const stored = await readSafetensorsWithMetadata(path.join(folder, "model.safetensors"));
      expect(stored.metadata).toEqual({ format: "pt" });
      expect(JSON.parse(await readFile(path.join(folder, "config.json"), "utf8")).torch_dtype).toBe(dtype);

      const loaded = await loadHfFolder(folder);
      expect(loaded.config.name).toBe(path.basename(folder));
      for (const [name, tensor] of model.weights) {
        const copy = tensorNamed(loaded.weights, name);
        expect(copy.dtype).toBe(dtype);
        expect(copy.shape).toEqual(tensor.shape);
        const values = decode(copy.data as Uint16Array);
        expect(outOfTolerance(values, tensor.data as Float32Array, rtol, atol)).toEqual([]);
      }

      // Saving the loaded model again keeps the 16-bit patterns unchanged.
      const second = path.join(folder, "again");
      await saveHfFolder(second, loaded);
      const reloaded = await loadHfFolder(second);
      for (const [name, tensor] of loaded.weights) {
        expect([...(tensorNamed(reloaded.weights, name).data as Uint16Array)]).toEqual([...(tensor.data as Uint16Array)]);
      }
    });
  }

  it("loads a sharded checkpoint", async () => {
    const model = tinyQwen2();
    await writeFile(path.join(folder, "config.json"), JSON.stringify(toHfConfig(model.config)));
    const files = await writeShardedSafetensors(folder, new Map(model.weights), { maxShardBytes: 16 * 1024, metadata: { format: "pt" } });
    expect(files.length).toBeGreaterThan(1);

    const loaded = await loadHfFolder(folder);
    for (const [name, tensor] of model.weights) {
      expect([...(tensorNamed(loaded.weights, name).data as Float32Array)]).toEqual([...(tensor.data as Float32Array)]);
    }
  });

  it("loads tied embeddings without lm_head and ignores a saved copy", async () => {
    const model = createRandomModel(randomConfig({ tieWordEmbeddings: true }), 5);
    expect(model.weights.has("lm_head.weight")).toBe(false);
    const weights = new Map(model.weights);
    weights.set("lm_head.weight", model.weights.get("model.embed_tokens.weight") as Tensor);
    weights.set("model.layers.0.self_attn.rotary_emb.inv_freq", Tensor.float32([4], [1, 0.1, 0.01, 0.001]));
    await writeFolder(model.config, weights);

    const loaded = await loadHfFolder(folder);
    expect(loaded.config.tieWordEmbeddings).toBe(true);
    expect(loaded.weights.has("lm_head.weight")).toBe(false);
    expect(loaded.weights.has("model.layers.0.self_attn.rotary_emb.inv_freq")).toBe(false);
    expect(loaded.weights.size).toBe(expectedWeightShapes(model.config).size);
  });
});

describe("loadHfFolder errors", () => {
  it("reports missing, unexpected and wrongly shaped weights at once", async () => {
    const model = tinyQwen2();
    const weights = new Map(model.weights);
    weights.delete("model.layers.0.self_attn.q_proj.bias");
    weights.delete("lm_head.weight");
    weights.set("model.layers.0.mlp.up_proj.weight", Tensor.float32([32, 64]));
    weights.set("model.layers.2.mlp.up_proj.weight", Tensor.float32([64, 32]));
    await writeFolder(model.config, weights);

    const error = await loadError();
    expect(error.message).toMatch(/do not match its config\.json \(4 problems\)/);
    expect(error.message).toMatch(/missing weight "model\.layers\.0\.self_attn\.q_proj\.bias" \[32\]/);
    expect(error.message).toMatch(/missing weight "lm_head\.weight" \[96, 32\]/);
    expect(error.message).toMatch(/unexpected weight "model\.layers\.2\.mlp\.up_proj\.weight" \[64, 32\]/);
    expect(error.message).toMatch(/weight "model\.layers\.0\.mlp\.up_proj\.weight" has shape \[32, 64\] but the config requires \[64, 32\]/);
    expect(error.details.problems).toHaveLength(4);
  });

  it("rejects integer weights", async () => {
    const model = tinyQwen2();
    const weights = new Map(model.weights);
    weights.set("model.norm.weight", Tensor.int32([32]));
    await writeFolder(model.config, weights);
    expect((await loadError()).message).toMatch(/weight "model\.norm\.weight" has dtype int32; only float32, float16, bfloat16 are supported/);
  });

  it("reports a missing config.json", async () => {
    expect((await loadError()).message).toMatch(/config\.json not found\nhint: /);
  });

  it("reports missing weights with a hint about pickle files", async () => {
    await writeFile(path.join(folder, "config.json"), JSON.stringify(toHfConfig(randomConfig())));
    await writeFile(path.join(folder, "pytorch_model.bin"), "");
    const error = await loadError();
    expect(error.message).toMatch(/no weights found in .*: expected model\.safetensors or model\.safetensors\.index\.json/);
    expect(error.message).toMatch(/hint: pytorch_model\.bin use PyTorch's pickle format/);
  });

  it("reports a missing folder", async () => {
    const error = await loadHfFolder(path.join(folder, "nope")).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/model folder .*nope not found/);
  });

  it("raises UnsupportedModelError for GPT-2", async () => {
    await writeFile(path.join(folder, "config.json"), JSON.stringify({ architectures: ["GPT2LMHeadModel"] }));
    const error = await loadHfFolder(folder).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect((error as Error).name).toBe("UnsupportedModelError");
  });
});

describe("saveHfFolder errors", () => {
  it("rejects a model whose weights do not match its config", async () => {
    const model = tinyQwen2();
    const weights = new Map(model.weights);
    weights.delete("model.norm.weight");
    const error = await saveHfFolder(folder, { config: model.config, weights }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/cannot save model "tiny-qwen2":\n {2}- missing weight "model\.norm\.weight" \[32\]/);
    expect(await readdir(folder)).toEqual([]);
  });
});
