/**
 * Sharded safetensors checkpoints: several `.safetensors` files plus an index,
 * `model.safetensors.index.json`, whose `weight_map` maps every tensor name to the
 * shard file (relative to the index) that stores it.
 */

import { readFile, stat } from "node:fs/promises";
import path from "node:path";

import { InvalidArgumentError, type Tensor } from "@lcc/tensor";

import { ModelLoadError } from "../errors.js";
import { writeTextFileAtomic } from "./atomic-write.js";
import type { SafetensorsHeader } from "./format.js";
import { readSafetensorsHeader, readSafetensorsWithMetadata } from "./read.js";
import { writeSafetensors } from "./write.js";

/** File name of the index of a sharded checkpoint. */
export const SAFETENSORS_INDEX_FILE = "model.safetensors.index.json";

/** A parsed `model.safetensors.index.json`. */
export interface SafetensorsIndex {
  /** Tensor name → shard file name, in index order. */
  readonly weightMap: ReadonlyMap<string, string>;
  /** The index's `metadata` object (usually `{ total_size }`), or an empty object. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

function indexError(indexPath: string, problems: readonly string[], cause?: unknown): ModelLoadError {
  return new ModelLoadError(
    `invalid sharded checkpoint ${indexPath}:\n${problems.map((problem) => `  - ${problem}`).join("\n")}\n` +
      "hint: the index and its shard files must come from the same download or conversion",
    { cause, details: { path: indexPath, problems: [...problems] } },
  );
}

/** True for a plain file name inside the index's folder (no absolute path, no "..", no folder). */
function isPlainShardName(name: string): boolean {
  return name.length > 0 && name === path.basename(name) && name !== "." && name !== ".." && !name.includes("\\");
}

/** Reads and checks a `model.safetensors.index.json` file. */
export async function readSafetensorsIndex(indexPath: string): Promise<SafetensorsIndex> {
  // Step 1: read and parse the JSON.
  let text: string;
  try {
    text = await readFile(indexPath, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelLoadError(`safetensors index ${indexPath} ${code === "ENOENT" ? "not found" : `cannot be read (${code})`}`, {
      cause: error,
      details: { path: indexPath },
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw indexError(indexPath, [`the index is not valid JSON: ${(error as Error).message}`], error);
  }

  // Step 2: check weight_map and metadata.
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw indexError(indexPath, ["the index must be a JSON object"]);
  const record = json as Record<string, unknown>;
  const problems: string[] = [];
  const rawMap = record.weight_map;
  const weightMap = new Map<string, string>();
  if (typeof rawMap !== "object" || rawMap === null || Array.isArray(rawMap)) {
    problems.push(`"weight_map" must be an object of tensor name → shard file, found ${JSON.stringify(rawMap)}`);
  } else {
    for (const [name, file] of Object.entries(rawMap)) {
      if (typeof file !== "string") problems.push(`weight_map["${name}"] must be a file name, found ${JSON.stringify(file)}`);
      else if (!isPlainShardName(file)) problems.push(`weight_map["${name}"] = "${file}" must name a file in the index's folder`);
      else weightMap.set(name, file);
    }
    if (Object.keys(rawMap).length === 0) problems.push(`"weight_map" lists no tensors`);
  }
  const rawMetadata = record.metadata ?? {};
  if (typeof rawMetadata !== "object" || rawMetadata === null || Array.isArray(rawMetadata)) {
    problems.push(`"metadata" must be an object, found ${JSON.stringify(rawMetadata)}`);
  }
  if (problems.length > 0) throw indexError(indexPath, problems);
  return { weightMap, metadata: rawMetadata as Record<string, unknown> };
}

/** The index of a sharded checkpoint with the checked header of each shard. */
export interface ShardedHeaders {
  readonly index: SafetensorsIndex;
  /** Shard file name → its header, in order of first appearance in the index. */
  readonly shards: ReadonlyMap<string, SafetensorsHeader>;
}

/**
 * Reads a `model.safetensors.index.json` and the headers of all its shards, without
 * tensor data. Every listed tensor must be in its shard, and every tensor in a shard
 * must be listed for that shard. All mismatches are reported in one ModelLoadError.
 */
export async function readShardedHeaders(indexPath: string): Promise<ShardedHeaders> {
  const index = await readSafetensorsIndex(indexPath);
  const folder = path.dirname(indexPath);

  // Step 1: group the listed names by shard, in order of first appearance.
  const namesByShard = new Map<string, Set<string>>();
  for (const [name, file] of index.weightMap) {
    const names = namesByShard.get(file) ?? new Set<string>();
    names.add(name);
    namesByShard.set(file, names);
  }

  // Step 2: every shard must exist.
  const missingShards: string[] = [];
  for (const [file, names] of namesByShard) {
    const found = await stat(path.join(folder, file)).then(
      (info) => info.isFile(),
      () => false,
    );
    if (!found) missingShards.push(`shard file ${file} (listed for ${names.size} tensors) not found in ${folder}`);
  }
  if (missingShards.length > 0) throw indexError(indexPath, missingShards);

  // Step 3: compare each shard's header with the index.
  const problems: string[] = [];
  const shards = new Map<string, SafetensorsHeader>();
  for (const [file, listed] of namesByShard) {
    const header = await readSafetensorsHeader(path.join(folder, file));
    shards.set(file, header);
    const stored = new Set(header.entries.map((entry) => entry.name));
    for (const name of listed) {
      if (!stored.has(name)) problems.push(`tensor "${name}" is listed for ${file} but missing from it`);
    }
    for (const name of stored) {
      if (listed.has(name)) continue;
      const listedFile = index.weightMap.get(name);
      problems.push(
        listedFile === undefined
          ? `tensor "${name}" is stored in ${file} but not listed in weight_map`
          : `tensor "${name}" is stored in ${file} but weight_map lists it for ${listedFile}`,
      );
    }
  }
  if (problems.length > 0) throw indexError(indexPath, problems);
  return { index, shards };
}

/**
 * Reads every shard listed in a `model.safetensors.index.json`, after checking all shard
 * headers against the index (see readShardedHeaders).
 */
export async function readShardedSafetensors(indexPath: string): Promise<Map<string, Tensor>> {
  const { shards } = await readShardedHeaders(indexPath);
  const folder = path.dirname(indexPath);
  const tensors = new Map<string, Tensor>();
  for (const file of shards.keys()) {
    const shard = await readSafetensorsWithMetadata(path.join(folder, file));
    for (const [name, tensor] of shard.tensors) tensors.set(name, tensor);
  }
  return tensors;
}

/** Options of writeShardedSafetensors. */
export interface WriteShardedOptions {
  /** Maximum bytes of tensor data per shard; a larger tensor gets a shard of its own. */
  readonly maxShardBytes: number;
  /** `__metadata__` strings written into every shard, e.g. `{ format: "pt" }`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes `tensors` into `model-0000i-of-0000n.safetensors` shards in `folder`, filled in
 * map order, then `model.safetensors.index.json`. Each file is replaced atomically and
 * the index is written last. Returns the shard file names.
 */
export async function writeShardedSafetensors(folder: string, tensors: ReadonlyMap<string, Tensor>, options: WriteShardedOptions): Promise<string[]> {
  if (!Number.isSafeInteger(options.maxShardBytes) || options.maxShardBytes <= 0) {
    throw new InvalidArgumentError(`maxShardBytes must be a positive integer, found ${options.maxShardBytes}`);
  }

  // Step 1: pack tensors greedily into shards.
  const shards: Map<string, Tensor>[] = [];
  let current = new Map<string, Tensor>();
  let currentBytes = 0;
  let totalBytes = 0;
  for (const [name, tensor] of tensors) {
    const bytes = tensor.data.byteLength;
    if (current.size > 0 && currentBytes + bytes > options.maxShardBytes) {
      shards.push(current);
      current = new Map();
      currentBytes = 0;
    }
    current.set(name, tensor);
    currentBytes += bytes;
    totalBytes += bytes;
  }
  if (current.size > 0 || shards.length === 0) shards.push(current);

  // Step 2: write the shards, then the index that points at them.
  const digits = Math.max(5, String(shards.length).length);
  const count = String(shards.length).padStart(digits, "0");
  const files: string[] = [];
  const weightMap: Record<string, string> = Object.create(null);
  for (const [i, shard] of shards.entries()) {
    const file = `model-${String(i + 1).padStart(digits, "0")}-of-${count}.safetensors`;
    await writeSafetensors(path.join(folder, file), shard, options.metadata);
    for (const name of shard.keys()) weightMap[name] = file;
    files.push(file);
  }
  const index = { metadata: { total_size: totalBytes }, weight_map: weightMap };
  await writeTextFileAtomic(path.join(folder, SAFETENSORS_INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  return files;
}
