/**
 * Child process of the gradient benchmark: times one forward run, or one forward-and-backward
 * run, of a Llama graph with LoRA on q, k, v and o and a cross-entropy loss, and reports
 * its median time and the process's peak resident memory as JSON on stdout.
 *
 * Usage: node dist/gradient-worker.js stories260K|smollm2-shape TOKENS forward|backward THREADS
 */

import { readFileSync } from "node:fs";
import { addLoraInputs, initLora } from "@lcc/compiler";
import { crossEntropy } from "@lcc/losses";
import { type LoadedModel, addLlamaParameters, createRandomModel, embedTokens, llamaForward, llamaLogits, loadModel, smolLM2Shape } from "@lcc/models";
import { Graph, Session, Tensor, addGradientOutputs } from "@lcc/tensor";
import { medianMs } from "./timing.js";

const [modelName, tokensText, mode, threadsText] = process.argv.slice(2);
const tokens = Number(tokensText);
const threads = Number(threadsText ?? 0);

const model: LoadedModel = modelName === "stories260K" ? (await loadModel("stories260K")).model : createRandomModel(smolLM2Shape(), 1);
const { config } = model;
const lora = { targets: ["q", "k", "v", "o"] as const, rank: 8, alpha: 16 };

// Forward graph with LoRA inputs and a cross-entropy loss; the backward variant adds gradients.
const graph = new Graph(`${modelName}-${mode}`);
const parameters = addLlamaParameters(graph, model, "float32");
const adapters = addLoraInputs(graph, config, lora, "float32");
const ids = graph.input("ids", "int64", [1, tokens]);
const targets = graph.input("targets", "int64", [1, tokens]);
const mask = graph.input("mask", "float32", [1, tokens]);
const positions = graph.input("positions", "int64", [1, tokens]);
const forward = llamaForward(parameters, { embeddings: embedTokens(parameters, ids), positions, past: null, adapter: adapters.adapter });
const loss = graph.output(crossEntropy(llamaLogits(parameters, forward.hidden), targets, mask), "loss");
if (mode === "backward") addGradientOutputs(graph, loss, adapters.inputs);

const session = await Session.create(graph, { threads, cacheDir: null });
const feeds: Record<string, Tensor> = {
  ids: Tensor.int64([1, tokens], Array.from({ length: tokens }, (_, i) => (i * 7919 + 3) % config.vocabSize)),
  targets: Tensor.int64([1, tokens], Array.from({ length: tokens }, (_, i) => (i * 104729 + 11) % config.vocabSize)),
  mask: new Tensor("float32", [1, tokens], new Float32Array(tokens).fill(1)),
  positions: Tensor.int64([1, tokens], Array.from({ length: tokens }, (_, i) => i)),
};
for (const adapter of initLora(config, lora, { normal: () => 0.01 } as never)) {
  feeds[`lora.${adapter.layer}.${adapter.target}.a`] = adapter.a;
  // Non-zero B so that gradients reach every matrix.
  feeds[`lora.${adapter.layer}.${adapter.target}.b`] = new Tensor("float32", adapter.b.shape, new Float32Array(adapter.b.size).fill(0.01));
}
const ms = await medianMs(() => session.run(feeds), { warmup: 1, repeats: 5 });
await session.dispose();
process.stdout.write(`${JSON.stringify({ ms, maxRssBytes: peakResidentBytes() })}\n`);

/**
 * Peak resident memory of this process. On Linux it reads VmHWM, because getrusage's
 * maxRSS survives exec and would report the parent's peak when the parent was larger.
 */
function peakResidentBytes(): number {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    if (match) return Number(match[1]) * 1024;
  } catch {
    // Not Linux: fall back to getrusage.
  }
  return process.resourceUsage().maxRSS * 1024;
}
