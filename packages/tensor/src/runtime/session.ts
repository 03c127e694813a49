/**
 * The onnxruntime-node session layer: create, run, dispose.
 *
 * Feeds are checked against the graph's declared inputs before they reach onnxruntime,
 * so a wrong name, dtype or shape gives one SessionInputError listing every problem.
 */

import { mkdir, rename, rm, stat, writeFile, open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import ort from "onnxruntime-node";
import type { DType } from "../dtype.js";
import { GraphError, InvalidArgumentError, SessionInputError } from "../errors.js";
import type { Dim, Graph } from "../graph.js";
import { type SerializedModel, serializeModel } from "../onnx/serialize.js";
import { Tensor, formatShape } from "../tensor.js";

export type ExecutionProvider = "cpu" | "cuda";

export interface SessionOptions {
  /** Threads used inside one operator (onnxruntime's intra-op pool); 0 lets onnxruntime choose. Example: 2. */
  readonly threads?: number;
  /** Execution providers in order of preference. Example: ["cuda", "cpu"]. Default ["cpu"]. */
  readonly executionProviders?: readonly ExecutionProvider[];
  /**
   * Folder of the on-disk graph cache; null disables it. Default: `$LCC_CACHE_DIR/graphs`,
   * else `~/.cache/lcc/graphs`. Graphs above 1 GiB always go through a folder.
   */
  readonly cacheDir?: string | null;
}

export interface ValueSignature {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

const ORT_TYPES: Partial<Record<DType, ort.Tensor.Type>> = {
  float32: "float32",
  float16: "float16",
  float64: "float64",
  int64: "int64",
  int32: "int32",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
};

const INLINE_LIMIT = 1 << 30;

export function defaultCacheDir(): string {
  const root = process.env.LCC_CACHE_DIR ?? path.join(os.homedir(), ".cache", "lcc");
  return path.join(root, "graphs");
}

export class Session {
  private disposed = false;

  private constructor(
    private readonly inner: ort.InferenceSession,
    readonly inputs: readonly ValueSignature[],
    readonly outputs: readonly ValueSignature[],
    /** Content hash of the graph this session runs. */
    readonly contentHash: string,
  ) {}

  /** Builds a session for `graph`, reusing the on-disk cache entry with the same content hash. */
  static async create(graph: Graph, options: SessionOptions = {}): Promise<Session> {
    const threads = options.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0) throw new InvalidArgumentError(`threads must be a non-negative integer, got ${threads}`);
    const providers = options.executionProviders ?? ["cpu"];
    for (const provider of providers) {
      if (provider !== "cpu" && provider !== "cuda") {
        throw new InvalidArgumentError(`unknown execution provider "${String(provider)}"; use "cpu" or "cuda"`);
      }
    }
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionProviders: [...providers],
      graphOptimizationLevel: "all",
      // Warnings such as "removing unused initializer" are expected for graphs that share one
      // weight set across passes; errors still surface as exceptions.
      logSeverityLevel: 3,
    };
    const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
    const serialized = serializeModel(graph, cacheDir === null ? {} : { externalData: { fileName: "model.onnx.data" } });
    if (cacheDir === null && serialized.model.byteLength > INLINE_LIMIT) {
      throw new InvalidArgumentError("graphs above 1 GiB need an on-disk cache folder; set cacheDir");
    }
    let inner: ort.InferenceSession;
    try {
      if (cacheDir === null) {
        inner = await ort.InferenceSession.create(serialized.model, sessionOptions);
      } else {
        const modelPath = await storeInCache(cacheDir, serialized);
        inner = await ort.InferenceSession.create(modelPath, sessionOptions);
      }
    } catch (error) {
      throw new GraphError(`onnxruntime rejected graph "${graph.name}": ${(error as Error).message}`, { cause: error });
    }
    const signature = (v: { name: string; dtype: DType; shape: readonly Dim[] }) => ({ name: v.name, dtype: v.dtype, shape: v.shape });
    return new Session(inner, graph.inputs.map(signature), graph.outputs.map(signature), serialized.contentHash);
  }

  /** Runs the graph. `outputNames` defaults to every output. */
  async run(feeds: Readonly<Record<string, Tensor>>, outputNames?: readonly string[]): Promise<Record<string, Tensor>> {
    if (this.disposed) throw new GraphError("the session has been disposed");
    this.checkFeeds(feeds);
    const names = outputNames ?? this.outputs.map((o) => o.name);
    const unknown = names.filter((n) => !this.outputs.some((o) => o.name === n));
    if (unknown.length > 0) {
      throw new SessionInputError(`unknown outputs ${unknown.join(", ")}; the graph has ${this.outputs.map((o) => o.name).join(", ")}`);
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrt(tensor);
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.inner.run(ortFeeds, [...names]);
    } catch (error) {
      throw new GraphError(`onnxruntime failed to run the graph: ${(error as Error).message}`, { cause: error });
    }
    const out: Record<string, Tensor> = {};
    for (const name of names) out[name] = fromOrt(results[name] as ort.Tensor);
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.inner.release();
  }

  private checkFeeds(feeds: Readonly<Record<string, Tensor>>): void {
    const problems: string[] = [];
    const symbols = new Map<string, number>();
    for (const input of this.inputs) {
      const tensor = feeds[input.name];
      if (tensor === undefined) {
        problems.push(`missing input "${input.name}" (${input.dtype}${formatShape(input.shape)})`);
        continue;
      }
      if (!(tensor instanceof Tensor)) {
        problems.push(`input "${input.name}" must be a Tensor`);
        continue;
      }
      if (tensor.dtype !== input.dtype) problems.push(`input "${input.name}" must be ${input.dtype}, got ${tensor.dtype}`);
      if (tensor.rank !== input.shape.length) {
        problems.push(`input "${input.name}" must have shape ${formatShape(input.shape)}, got ${formatShape(tensor.shape)}`);
        continue;
      }
      input.shape.forEach((dim, axis) => {
        const actual = tensor.shape[axis] as number;
        if (typeof dim === "number") {
          if (dim !== actual) problems.push(`input "${input.name}" axis ${axis} must be ${dim}, got ${actual} (shape ${formatShape(tensor.shape)})`);
        } else if (!/[+*?]/.test(dim)) {
          const seen = symbols.get(dim);
          if (seen === undefined) symbols.set(dim, actual);
          else if (seen !== actual) problems.push(`dimension "${dim}" is ${seen} elsewhere but ${actual} in input "${input.name}" axis ${axis}`);
        }
      });
    }
    for (const name of Object.keys(feeds)) {
      if (!this.inputs.some((i) => i.name === name)) problems.push(`unexpected input "${name}"`);
    }
    if (problems.length > 0) {
      const expected = this.inputs.map((i) => `${i.name}: ${i.dtype}${formatShape(i.shape)}`).join(", ");
      throw new SessionInputError(`invalid session inputs:\n  - ${problems.join("\n  - ")}\nexpected: ${expected}`);
    }
  }
}

function toOrt(tensor: Tensor): ort.Tensor {
  const type = ORT_TYPES[tensor.dtype];
  if (type === undefined) throw new InvalidArgumentError(`onnxruntime cannot take ${tensor.dtype} inputs; cast to float32 first`);
  const data = tensor.dtype === "bool" ? new Uint8Array(tensor.data as Uint8Array) : tensor.data;
  return new ort.Tensor(type, data as ort.Tensor.DataType, [...tensor.shape]);
}

function fromOrt(value: ort.Tensor): Tensor {
  const dims = [...value.dims];
  switch (value.type) {
    case "float32":
      return new Tensor("float32", dims, value.data as Float32Array);
    case "float64":
      return new Tensor("float64", dims, value.data as Float64Array);
    case "int64":
      return new Tensor("int64", dims, value.data as BigInt64Array);
    case "int32":
      return new Tensor("int32", dims, value.data as Int32Array);
    case "float16":
      return new Tensor("float16", dims, new Uint16Array((value.data as Uint16Array).buffer, (value.data as Uint16Array).byteOffset, value.size));
    case "bool":
      return new Tensor("bool", dims, Uint8Array.from(value.data as Uint8Array));
    case "int8":
      return new Tensor("int8", dims, value.data as Int8Array);
    case "uint8":
      return new Tensor("uint8", dims, value.data as Uint8Array);
    default:
      throw new GraphError(`onnxruntime returned an unsupported tensor type ${value.type}`);
  }
}

/** Writes the model into `cacheDir/<hash>/` unless it is there already; returns the model path. */
async function storeInCache(cacheDir: string, serialized: SerializedModel): Promise<string> {
  const folder = path.join(cacheDir, serialized.contentHash);
  const modelPath = path.join(folder, "model.onnx");
  try {
    if ((await stat(modelPath)).isFile()) return modelPath;
  } catch {
    // Not cached yet.
  }

  // Write into a private temporary folder, then rename it into place so that a crash
  // or a concurrent writer never leaves a half-written model under the final name.
  await mkdir(cacheDir, { recursive: true });
  const staging = path.join(cacheDir, `.staging-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await mkdir(staging);
  try {
    if (serialized.externalFileName !== undefined) {
      const handle = await open(path.join(staging, serialized.externalFileName), "w");
      try {
        for (const chunk of serialized.externalChunks) await handle.write(chunk);
      } finally {
        await handle.close();
      }
    }
    await writeFile(path.join(staging, "model.onnx"), serialized.model);
    try {
      await rename(staging, folder);
    } catch (error) {
      // Another process stored the same content first; theirs is identical.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return modelPath;
}
