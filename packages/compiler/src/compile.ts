/**
 * The compile loop for one context (one segment): teacher cache, then steps of encoder
 * pass, reader pass, loss, gradients and AdamW, then one last encoder pass that emits
 * the memory.
 *
 * Legend: L context tokens (with BOS), K buffer tokens, D width, Hkv key/value heads, Dh head width.
 */

import { getLoss } from "@lcc/losses";
import { type KvCache, LanguageModel, type LoadedModel } from "@lcc/models";
import { InvalidArgumentError, Session, type SessionOptions, Tensor, fromBFloat16, fromFloat16 } from "@lcc/tensor";
import { CompileAbortedError, CompileDivergedError } from "./errors.js";
import { type LoraMatrices, type LoraSpec, initLora, loraInputName } from "./lora.js";
import { AdamW, clipGlobalNorm, learningRateAt } from "./optimizer.js";
import type { CompileOptions } from "./options.js";
import type { CompileProgress } from "./progress.js";
import { SeededNormal } from "./random.js";
import { type GroupShape, STEP_IO, buildEncoderGraph, buildStepGraph } from "./step-graph.js";
import { type TeacherOptions, type TrainingSample, contextCache, reconstructionSample, regularisationSample } from "./teacher.js";

/** Keys and values of one layer at the buffer positions. */
export interface MemoryLayer {
  readonly keys: Tensor<"float32">; // [K, Hkv, Dh], RoPE applied at the memory's positions
  readonly values: Tensor<"float32">; // [K, Hkv, Dh]
}

export interface StepRecord {
  readonly step: number;
  readonly loss: number;
  readonly losses: Readonly<Record<string, number>>;
  readonly gradientNorm: number;
  readonly learningRate: number;
}

export interface SegmentResult {
  readonly layers: MemoryLayer[];
  /** Positions of the buffer tokens: L .. L+K-1. */
  readonly positions: number[];
  readonly contextTokens: number; // L
  readonly bufferTokens: number; // K
  readonly history: StepRecord[];
  readonly stoppedEarly: boolean;
  readonly wallSeconds: number;
}

export interface SegmentJob {
  readonly model: LoadedModel;
  /** Context token ids, starting with BOS. */
  readonly contextIds: readonly number[];
  /** Query pool entries as token ids (without BOS). */
  readonly queryPool: readonly (readonly number[])[];
  readonly options: CompileOptions;
  readonly sessionOptions?: SessionOptions;
  readonly onProgress?: (event: CompileProgress) => void;
  readonly signal?: AbortSignal;
  /**
   * Receives the initial trainable state, for reproducing a run with another implementation.
   * The arrays change in place as training proceeds, so copy what you keep.
   */
  readonly onInitialState?: (state: InitialState) => void;
  /** Segment index and count, for progress events. */
  readonly segment?: { readonly index: number; readonly count: number };
}

/** The starting point of a compilation, after the teacher cache and before the first step. */
export interface InitialState {
  readonly contextIds: readonly number[];
  readonly queries: readonly (readonly number[])[];
  readonly adapters: readonly LoraMatrices[];
  readonly bufferEmbeddings: Tensor<"float32">; // [1, K, D]
}

/** Number of buffer tokens for a context of `contextTokens` tokens (BOS excluded) at `ratio`. */
export function bufferTokenCount(contextTokens: number, ratio: number): number {
  return Math.ceil(contextTokens / ratio);
}

function toFloat32(values: Float32Array | Float64Array): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

/** Initial buffer embeddings [1, K, D]. */
function initialBuffer(model: LoadedModel, contextIds: readonly number[], K: number, ratio: number, options: CompileOptions, random: SeededNormal): Float32Array {
  const { hiddenSize: D } = model.config;
  const table = model.weights.get("model.embed_tokens.weight") as Tensor;
  const embedding = (id: number): Float32Array => {
    const row = table.data.subarray(id * D, (id + 1) * D) as Float32Array | Uint16Array | Float64Array;
    if (row instanceof Uint16Array) return table.dtype === "bfloat16" ? fromBFloat16(row) : fromFloat16(row);
    return toFloat32(row);
  };
  const buffer = new Float32Array(K * D);
  const init = options.bufferInit;
  if (init === "shared") {
    for (let d = 0; d < D; d++) buffer[d] = random.normal() * 0.02;
    for (let k = 1; k < K; k++) buffer.copyWithin(k * D, 0, D);
  } else if (typeof init === "object") {
    const row = embedding(init.token);
    for (let k = 0; k < K; k++) buffer.set(row, k * D);
  } else {
    // Mean of the embeddings of the tokens each buffer token covers (BOS excluded).
    const tokens = contextIds.slice(1);
    for (let k = 0; k < K; k++) {
      const covered = tokens.slice(Math.floor(k * ratio), Math.floor((k + 1) * ratio));
      const share = covered.length === 0 ? tokens.slice(-1) : covered;
      for (const id of share) {
        const row = embedding(id);
        for (let d = 0; d < D; d++) buffer[k * D + d] = (buffer[k * D + d] as number) + (row[d] as number) / share.length;
      }
    }
  }
  return buffer;
}

/** Stacks samples of equal length into [N, T] (and [N, T, V|k]) feeds of one group. */
function groupFeeds(group: GroupShape, samples: readonly TrainingSample[], feeds: Record<string, Tensor>): void {
  const N = samples.length;
  const T = group.tokens;
  const ids: number[] = [];
  const gold: number[] = [];
  const mask = new Float32Array(N * T);
  samples.forEach((sample, n) => {
    ids.push(...sample.ids);
    gold.push(...sample.goldIds);
    mask.set(sample.mask, n * T);
  });
  feeds[STEP_IO.groupIds(group.name)] = Tensor.int64([N, T], ids);
  feeds[STEP_IO.groupGold(group.name)] = Tensor.int64([N, T], gold);
  feeds[STEP_IO.groupMask(group.name)] = new Tensor("float32", [N, T], mask);
  if (group.teacher === null) return;

  const first = samples[0]?.teacher;
  const width = first?.kind === "top-k" ? first.k : (first?.logProbabilities.length ?? 0) / T;
  const logProbabilities = new Float32Array(N * T * width);
  const teacherIds: number[] = [];
  samples.forEach((sample, n) => {
    logProbabilities.set(sample.teacher.logProbabilities, n * T * width);
    if (sample.teacher.kind === "top-k") teacherIds.push(...sample.teacher.ids);
  });
  feeds[STEP_IO.groupTeacherLogProbabilities(group.name)] = new Tensor("float32", [N, T, width], logProbabilities);
  if (group.teacher.kind === "top-k") feeds[STEP_IO.groupTeacherIds(group.name)] = Tensor.int64([N, T, width], teacherIds);
}

/** Compiles one context into its memory. */
export async function compileSegment(job: SegmentJob): Promise<SegmentResult> {
  const started = performance.now();
  const { model, contextIds, options } = job;
  const { config } = model;
  const emit = (event: CompileProgress) => job.onProgress?.(event);
  const segment = job.segment ?? { index: 0, count: 1 };
  const L = contextIds.length;
  const K = bufferTokenCount(L - 1, options.ratio);
  if (L < 2) throw new InvalidArgumentError("a context needs at least one token after BOS");
  if (L + K + 1 + options.queryTokens + options.answerTokens > config.maxPositions && options.queries > 0) {
    throw new InvalidArgumentError(
      `a segment of ${L} tokens with ${K} buffer tokens and ${options.queryTokens + options.answerTokens}-token queries exceeds the ${config.maxPositions}-position window of ${config.name}; lower --segment-tokens`,
    );
  }
  const random = new SeededNormal(options.seed + 1_000_003 * segment.index);
  const sessionOptions: SessionOptions = { threads: options.threads, ...job.sessionOptions };

  // Step 1: teacher cache with θ alone: the sink, the context's keys and values, and the samples.
  const teacherModel = new LanguageModel(model, sessionOptions);
  const useFull = config.vocabSize <= options.fullVocabularyLimit;
  const teacherOptions: TeacherOptions = {
    topK: useFull ? null : Math.min(options.teacherTopK, config.vocabSize),
    reconstructionPrompt: [config.bosTokenId],
    answerTokens: options.answerTokens,
    answerTemperature: options.answerTemperature,
    seed: options.seed,
  };
  let sink: KvCache;
  let drawn: number[][] = [];
  const samples: { reconstruction: TrainingSample; regularisation: TrainingSample[]; heldOut: TrainingSample[] } = {
    reconstruction: undefined as unknown as TrainingSample,
    regularisation: [],
    heldOut: [],
  };
  try {
    sink = (await teacherModel.forward({ ids: [config.bosTokenId], positions: [0] })).cache;
    const context = await contextCache(teacherModel, contextIds);
    samples.reconstruction = await reconstructionSample(teacherModel, context, contextIds, teacherOptions);
    drawn = random.sample(job.queryPool, options.queries + options.heldOutQueries).map((q) => q.slice(0, options.queryTokens));
    for (let i = 0; i < drawn.length; i++) {
      job.signal?.throwIfAborted();
      const sample = await regularisationSample(teacherModel, context, drawn[i] as number[], teacherOptions, i);
      (i < options.queries ? samples.regularisation : samples.heldOut).push(sample);
      emit({ type: "teacher", segment: segment.index, segments: segment.count, done: i + 1, total: drawn.length });
    }
  } finally {
    await teacherModel.dispose();
  }

  // Step 2: the step graph, one group per sample length.
  const teacherShape = (lossName: string): GroupShape["teacher"] => {
    if (!getLoss(lossName).needsTeacher) return null;
    if (teacherOptions.topK === null) return { kind: "full" };
    return { kind: "top-k", k: teacherOptions.topK };
  };
  const groups: { shape: GroupShape; samples: TrainingSample[] }[] = [
    {
      shape: { name: "reconstruction", samples: 1, tokens: samples.reconstruction.ids.length, loss: options.reconstructionLoss, weight: options.reconstructionWeight, teacher: teacherShape(options.reconstructionLoss) },
      samples: [samples.reconstruction],
    },
  ];
  if (samples.regularisation.length > 0) {
    const lengths = new Set(samples.regularisation.map((s) => s.ids.length));
    for (const length of lengths) {
      const members = samples.regularisation.filter((s) => s.ids.length === length);
      const name = lengths.size === 1 ? "regularisation" : `regularisation_${length}`;
      const weight = (options.regularisationWeight * members.length) / samples.regularisation.length;
      groups.push({ shape: { name, samples: members.length, tokens: length, loss: options.regularisationLoss, weight, teacher: teacherShape(options.regularisationLoss) }, samples: members });
    }
  }
  if (samples.heldOut.length > 0) {
    const length = samples.heldOut[0]?.ids.length as number;
    const members = samples.heldOut.filter((sample) => sample.ids.length === length);
    groups.push({
      shape: { name: "held_out", samples: members.length, tokens: length, loss: options.regularisationLoss, weight: 0, heldOut: true, teacher: teacherShape(options.regularisationLoss) },
      samples: members,
    });
  }
  const lora: LoraSpec = { targets: options.loraTargets, rank: options.loraRank, alpha: options.loraAlpha };
  const { graph } = buildStepGraph(model, {
    contextTokens: L,
    bufferTokens: K,
    lora,
    groups: groups.map((g) => g.shape),
    loraAtReadTime: options.loraAtReadTime,
    trainBuffer: options.trainBuffer,
    dtype: "float32",
  });
  const stepSession = await Session.create(graph, sessionOptions);

  // Step 3: parameters and constant feeds.
  const adapters: LoraMatrices[] = initLora(config, lora, random);
  const buffer = new Tensor("float32", [1, K, config.hiddenSize], initialBuffer(model, contextIds, K, options.ratio, options, random));
  const constantFeeds: Record<string, Tensor> = { [STEP_IO.contextIds]: Tensor.int64([1, L], contextIds) };
  for (let l = 0; l < config.numLayers; l++) {
    constantFeeds[STEP_IO.sinkKey(l)] = sink.keys[l] as Tensor;
    constantFeeds[STEP_IO.sinkValue(l)] = sink.values[l] as Tensor;
  }
  for (const group of groups) groupFeeds(group.shape, group.samples, constantFeeds);
  job.onInitialState?.({ contextIds, queries: drawn, adapters, bufferEmbeddings: buffer });
  const trainable: { name: string; tensor: Tensor<"float32"> }[] = [];
  if (options.trainBuffer) trainable.push({ name: STEP_IO.bufferEmbeddings, tensor: buffer });
  for (const adapter of adapters) {
    trainable.push({ name: loraInputName(adapter.layer, adapter.target, "a"), tensor: adapter.a });
    trainable.push({ name: loraInputName(adapter.layer, adapter.target, "b"), tensor: adapter.b });
  }
  const optimiser = new AdamW(
    trainable.map((t) => t.tensor.data),
    { learningRate: options.learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: options.weightDecay },
  );

  // Step 4: optimise.
  const history: StepRecord[] = [];
  const tokensPerStep = L + K + groups.reduce((sum, g) => sum + g.shape.samples * g.shape.tokens, 0);
  let stoppedEarly = false;
  let bestHeldOut = Number.POSITIVE_INFINITY;
  let evaluationsWithoutImprovement = 0;
  const loopStarted = performance.now();
  try {
    for (let step = 0; step < options.steps; step++) {
      if (job.signal?.aborted) throw new CompileAbortedError(`compilation was cancelled at step ${step} of ${options.steps}`);
      const feeds: Record<string, Tensor> = { ...constantFeeds, [STEP_IO.bufferEmbeddings]: buffer };
      for (const adapter of adapters) {
        feeds[loraInputName(adapter.layer, adapter.target, "a")] = adapter.a;
        feeds[loraInputName(adapter.layer, adapter.target, "b")] = adapter.b;
      }
      const outputs = await stepSession.run(feeds);
      const loss = (outputs[STEP_IO.loss] as Tensor).data[0] as number;
      const losses: Record<string, number> = {};
      for (const group of groups) losses[group.shape.name] = (outputs[STEP_IO.groupLoss(group.shape.name)] as Tensor).data[0] as number;
      if (!Number.isFinite(loss)) {
        throw new CompileDivergedError(
          `the loss became ${loss} at step ${step + 1} (losses: ${JSON.stringify(losses)}); nothing was written. Consider a lower --learning-rate or --clip-norm 1`,
          { details: { step, losses } },
        );
      }

      // Clip, then update.
      const gradients = trainable.map((t) => (outputs[STEP_IO.gradient(t.name)] as Tensor).data as Float32Array);
      const gradientNorm = options.clipNorm > 0 ? clipGlobalNorm(gradients, options.clipNorm) : Math.sqrt(gradients.reduce((s, g) => s + g.reduce((a, b) => a + b * b, 0), 0));
      const learningRate = learningRateAt(options.schedule, options.learningRate, step, options.steps, options.warmupSteps);
      optimiser.update(gradients, learningRate);
      history.push({ step, loss, losses, gradientNorm, learningRate });

      const elapsed = (performance.now() - loopStarted) / 1000;
      emit({
        type: "step",
        segment: segment.index,
        segments: segment.count,
        step: step + 1,
        steps: options.steps,
        loss,
        losses,
        gradientNorm,
        learningRate,
        tokensPerSecond: (tokensPerStep * (step + 1)) / Math.max(elapsed, 1e-9),
        etaSeconds: (elapsed / (step + 1)) * (options.steps - step - 1),
      });
      // Early stopping on the held-out KL, measured before this step's update.
      const heldOut = losses.held_out;
      if (heldOut !== undefined && step % options.evaluateEvery === 0) {
        if (heldOut < bestHeldOut - 1e-6) {
          bestHeldOut = heldOut;
          evaluationsWithoutImprovement = 0;
        } else if (++evaluationsWithoutImprovement >= options.earlyStopPatience) {
          stoppedEarly = true;
          emit({ type: "stopped", segment: segment.index, reason: "early stopping", step: step + 1 });
          break;
        }
      }
      if (options.maxSeconds > 0 && (performance.now() - started) / 1000 >= options.maxSeconds) {
        stoppedEarly = true;
        emit({ type: "stopped", segment: segment.index, reason: "time budget", step: step + 1 });
        break;
      }
    }
  } finally {
    await stepSession.dispose();
  }

  // Step 5: emit the memory with one last encoder pass.
  const layers = await encodeMemory(model, contextIds, K, lora, buffer, adapters, sessionOptions);
  return {
    layers,
    positions: Array.from({ length: K }, (_, i) => L + i),
    contextTokens: L,
    bufferTokens: K,
    history,
    stoppedEarly,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

/** Runs the encoder (θ + LoRA) on [C; buffer] and returns the memory per layer. */
export async function encodeMemory(
  model: LoadedModel,
  contextIds: readonly number[],
  K: number,
  lora: LoraSpec,
  buffer: Tensor,
  adapters: readonly LoraMatrices[],
  sessionOptions: SessionOptions,
): Promise<MemoryLayer[]> {
  const { config } = model;
  const L = contextIds.length;
  const session = await Session.create(buildEncoderGraph(model, { contextTokens: L, bufferTokens: K, lora, dtype: "float32" }), sessionOptions);
  try {
    const feeds: Record<string, Tensor> = { [STEP_IO.contextIds]: Tensor.int64([1, L], contextIds), [STEP_IO.bufferEmbeddings]: buffer };
    for (const adapter of adapters) {
      feeds[loraInputName(adapter.layer, adapter.target, "a")] = adapter.a;
      feeds[loraInputName(adapter.layer, adapter.target, "b")] = adapter.b;
    }
    const outputs = await session.run(feeds);
    const layers: MemoryLayer[] = [];
    for (let l = 0; l < config.numLayers; l++) {
      // [1, Hkv, K, Dh] -> [K, Hkv, Dh]
      layers.push({
        keys: headsLast(outputs[STEP_IO.memoryKey(l)] as Tensor),
        values: headsLast(outputs[STEP_IO.memoryValue(l)] as Tensor),
      });
    }
    return layers;
  } finally {
    await session.dispose();
  }
}

/** [1, Hkv, K, Dh] -> [K, Hkv, Dh]. */
export function headsLast(tensor: Tensor): Tensor<"float32"> {
  const [, Hkv, K, Dh] = tensor.shape as [number, number, number, number];
  const source = tensor.data as Float32Array;
  const out = new Float32Array(K * Hkv * Dh);
  for (let h = 0; h < Hkv; h++) for (let k = 0; k < K; k++) out.set(source.subarray((h * K + k) * Dh, (h * K + k + 1) * Dh), (k * Hkv + h) * Dh);
  return new Tensor("float32", [K, Hkv, Dh], out);
}

/** [K, Hkv, Dh] -> [1, Hkv, K, Dh]. */
export function headsFirst(tensor: Tensor): Tensor<"float32"> {
  const [K, Hkv, Dh] = tensor.shape as [number, number, number];
  const source = tensor.data as Float32Array;
  const out = new Float32Array(K * Hkv * Dh);
  for (let h = 0; h < Hkv; h++) for (let k = 0; k < K; k++) out.set(source.subarray((k * Hkv + h) * Dh, (k * Hkv + h + 1) * Dh), (h * K + k) * Dh);
  return new Tensor("float32", [1, Hkv, K, Dh], out);
}
