/**
 * Probe scripts: small ES modules that import one package by name and call a few of its
 * public functions, then print one JSON line. The same script runs once where the name
 * resolves to an installed tarball and once where it resolves to the workspace package,
 * so the two outputs can be compared.
 */

/** The JSON line every probe prints. */
export interface ProbeOutput {
  /** URL that `import.meta.resolve` returned for the package name. */
  readonly resolved: string;
  /** Names the package's entry point exports, sorted. */
  readonly exportNames: readonly string[];
  /** Values computed by the package-specific part of the probe. */
  readonly values: Readonly<Record<string, unknown>>;
}

/** Package-specific probe bodies. Each passes its values to `report`, which prints the JSON line. */
const PROBE_BODIES: Readonly<Record<string, string>> = {
  "@lcc/tensor": `
const { Graph, Session, Tensor, ops } = api;

// y = x @ W + b with W = [[1, 2], [3, 4], [5, 6]] and b = [0.5, -0.5].
const graph = new Graph("affine");
const x = graph.input("x", "float32", ["B", 3]); // [B, 3]
const w = graph.initializer("w", Tensor.float32([3, 2], [1, 2, 3, 4, 5, 6])); // [3, 2]
const b = graph.initializer("b", Tensor.float32([2], [0.5, -0.5])); // [2]
graph.output(ops.add(ops.matmul(x, w), b), "y"); // [B, 2]

const session = await Session.create(graph, { cacheDir: null, threads: 1 });
const { y } = await session.run({ x: Tensor.float32([2, 3], [1, 0, 0, 1, 1, 1]) });
await session.dispose();
report({ shape: y.shape, dtype: y.dtype, data: Array.from(y.data) });
`,

  "@lcc/models": `
const { parseHfConfig, createRandomModel, LanguageModel } = api;

const config = parseHfConfig(
  {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: 96,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    bos_token_id: 1,
    eos_token_id: 2,
  },
  "tiny-llama",
);
const model = new LanguageModel(createRandomModel(config, 7), { cacheDir: null, threads: 1 });
const { logits, cache } = await model.forward({ ids: [1, 5, 9] });
await model.dispose();
report({
  headDim: config.headDim,
  logits: Array.from(logits),
  positions: cache.positions,
  keyShape: cache.keys[0].shape,
});
`,

  "@lcc/losses": `
const { getLoss, listLosses } = api;
report({ klName: getLoss("kl").name, lossNames: listLosses().map((loss) => loss.name) });
`,

  "@lcc/compiler": `
import { LccError } from "@lcc/tensor";
const { resolveCompileOptions } = api;

let rejection = null;
try {
  resolveCompileOptions({ ratio: 0 });
} catch (error) {
  rejection = { name: error.name, isLccError: error instanceof LccError, message: error.message };
}
report({ ratio: resolveCompileOptions().ratio, rejection });
`,

  "@lcc/artifact": `
import { createHash } from "node:crypto";
import { Tensor } from "@lcc/tensor";
const { encodeMemory, decodeMemory } = api;

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const keys = Array.from({ length: 8 }, (_, i) => i / 4 - 1);
const values = Array.from({ length: 8 }, (_, i) => i / 8);
const memory = {
  producer: { name: "lcc", version: "0.1.0" },
  fingerprint: {
    name: "tiny",
    architecture: "llama",
    configSha256: sha256("config"),
    weightsSha256: sha256("weights"),
    tokenizerSha256: sha256("tokenizer"),
    numLayers: 1,
    numKvHeads: 1,
    headDim: 4,
  },
  compression: {
    sourceTokens: 32,
    bufferTokens: 2,
    ratio: 16,
    segments: [{ sourceStart: 0, sourceEnd: 32, bufferStart: 0, bufferEnd: 2 }],
  },
  positions: [32, 33],
  layers: [{ keys: new Tensor("float32", [2, 1, 4], Float32Array.from(keys)), values: new Tensor("float32", [2, 1, 4], Float32Array.from(values)) }],
  provenance: { options: { ratio: 16 }, steps: 1, finalLosses: { kl: 0.5 }, wallTimeSeconds: 0.25 },
  sourceSha256: sha256("Once upon a time"),
  createdAt: "2026-01-01T00:00:00.000Z",
};
const file = encodeMemory(memory, { dtype: "float32" });
const decoded = decodeMemory(file);
report({
  fileSha256: sha256(file),
  storedDType: decoded.storedDType,
  positions: decoded.positions,
  keys: Array.from(decoded.layers[0].keys.data),
  values: Array.from(decoded.layers[0].values.data),
  fingerprintName: decoded.fingerprint.name,
});
`,

  "@lcc/serving": `
import { LccError, Tensor } from "@lcc/tensor";
const { QueueFullError, memoryByteSize } = api;

const error = new QueueFullError("the request queue is full");
// Two positions of 8 bytes, plus keys and values of [K=2, Hkv=1, Dh=4] float32: 16 + 2 * 32.
const memory = {
  positions: [32, 33],
  layers: [{ keys: new Tensor("float32", [2, 1, 4]), values: new Tensor("float32", [2, 1, 4]) }],
};
report({
  queueFullIsClass: typeof QueueFullError === "function",
  errorName: error.name,
  isLccError: error instanceof LccError,
  memoryBytes: memoryByteSize(memory),
});
`,

  "@lcc/evaluation": `
const { BASELINES, tokenF1 } = api;
// Articles are dropped, so "red key" shares 2 of the 3 tokens of "red key under": F1 = 0.8.
report({ baselines: [...BASELINES], tokenF1: tokenF1("the red key", "a red key under") });
`,

  "@lcc/plugin-api": `
const { parsePluginList } = api;
report({ plugins: parsePluginList(" @lcc/plugin-a, ,./local.js ") });
`,
};

/**
 * Builds the probe module for `packageName`. A package without a specific probe only
 * reports its export names.
 */
export function probeSource(packageName: string): string {
  const name = JSON.stringify(packageName);
  const header = [
    `import * as api from ${name};`,
    "const report = (values) =>",
    `  console.log(JSON.stringify({ resolved: import.meta.resolve(${name}), exportNames: Object.keys(api).sort(), values }));`,
  ].join("\n");
  const body = PROBE_BODIES[packageName] ?? "report({});";
  return `${header}\n${body}`;
}
