/**
 * Encoding a memory to the file format of memory.proto.
 *
 * protobufjs encodes every field except the layers. The layers are appended by hand as
 * repeated `layers` fields, which a protobuf reader merges into the same message. This
 * way each tensor's data is converted straight into the output (or the file), never
 * into a second copy of the whole memory. An `alignment` field of a few zero
 * bytes before each tensor's data makes that data start at a multiple of 4 bytes from
 * the start of the file, which lets the decoder return float32 tensors as views.
 *
 * Memory bound: besides the caller's float32 memory, encodeMemory holds the output
 * (the file size) plus one converted tensor ([K, Hkv, Dh] in the stored dtype; none for
 * float32), and writeMemoryFile holds only the converted tensor, never the whole file.
 *
 * Legend: K buffer tokens, Hkv key/value heads, Dh head width, C = Hkv * Dh channels.
 */

import { createHash } from "node:crypto";
import { InvalidArgumentError, LccError } from "@lcc/tensor";
import {
  BYTES_PER_ELEMENT,
  CHECKSUM_TRAILER_BYTES,
  DATA_ALIGNMENT,
  DTYPE_CODES,
  FRAME_HEADER_BYTES,
  MAGIC,
  TAG_KV_TENSOR_ALIGNMENT,
  TAG_KV_TENSOR_DATA,
  TAG_LAYER_KEYS,
  TAG_LAYER_VALUES,
  TAG_MEMORY_FILE_CHECKSUM,
  TAG_MEMORY_FILE_LAYERS,
  memoryTypes,
  varintSize,
  writeVarint,
} from "./proto.js";
import { HOST_IS_LITTLE_ENDIAN, bytesOf, encodeStorage, int8Scales } from "./storage.js";
import { type EncodeOptions, type Memory, MEMORY_FORMAT_VERSION, MEMORY_LIMITS, STORAGE_DTYPES, type StorageDType } from "./types.js";
import { isRecord, validateMemory } from "./validate.js";

interface TensorPlan {
  readonly label: string;
  readonly values: Float32Array; // [K, C]
  readonly dtype: StorageDType;
  readonly scales: Float32Array | undefined; // [C], int8 only
  /** The KvTensor fields dtype, shape and scales, encoded by protobufjs. */
  readonly meta: Uint8Array;
  readonly dataBytes: number;
  /** Zero bytes in the alignment field, 0 to MAX_ALIGNMENT_BYTES. */
  alignment: number;
}

interface LayerPlan {
  readonly keys: TensorPlan;
  readonly values: TensorPlan;
}

/** Everything needed to write a file, computed before the first byte is written. */
export interface EncodePlan {
  /** The magic, the version and every MemoryFile field except layers and checksum. */
  readonly head: Uint8Array;
  readonly layers: readonly LayerPlan[];
  readonly totalBytes: number;
}

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

/** Bytes of a KvTensor message: meta, the alignment field, then the data field. */
function tensorMessageBytes(tensor: TensorPlan): number {
  return tensor.meta.length + 1 + varintSize(tensor.alignment) + tensor.alignment + 1 + varintSize(tensor.dataBytes) + tensor.dataBytes;
}

/** Bytes from the start of a KvTensor message to its first data byte. */
function tensorDataStart(tensor: TensorPlan): number {
  return tensor.meta.length + 1 + varintSize(tensor.alignment) + tensor.alignment + 1 + varintSize(tensor.dataBytes);
}

function layerMessageBytes(layer: LayerPlan): number {
  const keys = tensorMessageBytes(layer.keys);
  const values = tensorMessageBytes(layer.values);
  return 1 + varintSize(keys) + keys + 1 + varintSize(values) + values;
}

/** Bytes of one repeated `layers` field: tag, length and the Layer message. */
function layerFieldBytes(layer: LayerPlan): number {
  const message = layerMessageBytes(layer);
  return 1 + varintSize(message) + message;
}

/** File offsets of the first data byte of the keys and of the values of a layer field starting at `offset`. */
function layerDataOffsets(layer: LayerPlan, offset: number): [number, number] {
  const keysStart = offset + 1 + varintSize(layerMessageBytes(layer));
  const keysMessage = tensorMessageBytes(layer.keys);
  const valuesStart = keysStart + 1 + varintSize(keysMessage) + keysMessage;
  const valuesMessage = tensorMessageBytes(layer.values);
  return [
    keysStart + 1 + varintSize(keysMessage) + tensorDataStart(layer.keys),
    valuesStart + 1 + varintSize(valuesMessage) + tensorDataStart(layer.values),
  ];
}

/** Largest alignment field lcc writes, in bytes. */
const MAX_ALIGNMENT_BYTES = 11;

/**
 * Chooses the alignment bytes of both tensors of a layer field that starts at `offset`:
 * the smallest total that puts both data fields at multiples of 4. One more alignment
 * byte usually moves the data after it by 1 byte. Next to a varint boundary it also makes
 * a length varint one byte longer and moves the data by 2 or 3, which is why the search
 * goes past 3 bytes. Should no choice fit, the data stays unaligned, which is valid
 * because the decoder then copies it.
 */
function alignLayer(layer: LayerPlan, offset: number): void {
  let best: [number, number] = [0, 0];
  let bestTotal = Number.POSITIVE_INFINITY;
  for (let keys = 0; keys <= MAX_ALIGNMENT_BYTES; keys++) {
    for (let values = 0; values <= MAX_ALIGNMENT_BYTES && keys + values < bestTotal; values++) {
      layer.keys.alignment = keys;
      layer.values.alignment = values;
      const [keysData, valuesData] = layerDataOffsets(layer, offset);
      if (keysData % DATA_ALIGNMENT === 0 && valuesData % DATA_ALIGNMENT === 0) {
        best = [keys, values];
        bestTotal = keys + values;
      }
    }
  }
  [layer.keys.alignment, layer.values.alignment] = best;
}

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

function checkOptions(memory: Memory, options: EncodeOptions): void {
  if (!isRecord(options))
    throw new InvalidArgumentError(`encode options must be an object such as { dtype: "float16" }, got ${String(options)}`);
  if (!STORAGE_DTYPES.includes(options.dtype)) {
    throw new InvalidArgumentError(
      `options.dtype is ${JSON.stringify(options.dtype) ?? String(options.dtype)} but must be one of ${STORAGE_DTYPES.join(", ")}`,
    );
  }
  if (options.includeSourceText !== undefined && typeof options.includeSourceText !== "boolean") {
    throw new InvalidArgumentError(`options.includeSourceText must be a boolean, got ${String(options.includeSourceText)}`);
  }
  if (options.includeSourceText === true && memory.sourceText === undefined) {
    throw new InvalidArgumentError(
      "options.includeSourceText is true but the memory has no sourceText; set memory.sourceText or leave the option off",
    );
  }
}

function encodeHead(memory: Memory, includeSourceText: boolean): Uint8Array {
  const { fingerprint, compression, provenance } = memory;
  const message = {
    format_version: { major: MEMORY_FORMAT_VERSION.major, minor: MEMORY_FORMAT_VERSION.minor },
    producer: { name: memory.producer.name, version: memory.producer.version },
    model: {
      name: fingerprint.name,
      architecture: fingerprint.architecture,
      config_sha256: fingerprint.configSha256,
      weights_sha256: fingerprint.weightsSha256,
      tokenizer_sha256: fingerprint.tokenizerSha256,
      num_layers: fingerprint.numLayers,
      num_kv_heads: fingerprint.numKvHeads,
      head_dim: fingerprint.headDim,
    },
    compression: {
      source_tokens: compression.sourceTokens,
      buffer_tokens: compression.bufferTokens,
      ratio: compression.ratio,
      segments: compression.segments.map((segment) => ({
        source_start: segment.sourceStart,
        source_end: segment.sourceEnd,
        buffer_start: segment.bufferStart,
        buffer_end: segment.bufferEnd,
      })),
    },
    positions: [...memory.positions],
    provenance: {
      options_json: JSON.stringify(provenance.options),
      steps: provenance.steps,
      final_losses: Object.entries(provenance.finalLosses).map(([name, value]) => ({ name, value })),
      wall_time_seconds: provenance.wallTimeSeconds,
    },
    source: includeSourceText ? { sha256: memory.sourceSha256, text: memory.sourceText } : { sha256: memory.sourceSha256 },
    created_at: memory.createdAt,
  };
  const fields = memoryTypes().MemoryFile.encode(message).finish();

  const head = new Uint8Array(FRAME_HEADER_BYTES + fields.length);
  head.set(MAGIC, 0);
  head[6] = MEMORY_FORMAT_VERSION.major;
  head[7] = MEMORY_FORMAT_VERSION.minor;
  head.set(fields, FRAME_HEADER_BYTES);
  return head;
}

function planTensor(label: string, values: Float32Array, shape: readonly number[], dtype: StorageDType): TensorPlan {
  const channels = shape[1]! * shape[2]!;
  const scales = dtype === "int8" ? int8Scales(values, channels) : undefined;
  const meta = memoryTypes()
    .KvTensor.encode({ dtype: DTYPE_CODES[dtype], shape: [...shape], ...(scales === undefined ? {} : { scales: bytesOf(scales) }) })
    .finish();
  return { label, values, dtype, scales, meta, dataBytes: values.length * BYTES_PER_ELEMENT[dtype], alignment: 0 };
}

/** Validates `memory` and `options` and lays out the file. */
export function planEncoding(memory: Memory, options: EncodeOptions): EncodePlan {
  if (!HOST_IS_LITTLE_ENDIAN) throw new LccError("memory files are little-endian and this host is big-endian, which lcc does not support");
  validateMemory(memory);
  checkOptions(memory, options);

  const head = encodeHead(memory, options.includeSourceText === true);
  let offset = head.length;
  const layers: LayerPlan[] = [];
  for (let l = 0; l < memory.layers.length; l++) {
    const { keys, values } = memory.layers[l]!;
    const layer = {
      keys: planTensor(`layers[${l}].keys`, keys.data, keys.shape, options.dtype),
      values: planTensor(`layers[${l}].values`, values.data, values.shape, options.dtype),
    };
    alignLayer(layer, offset);
    offset += layerFieldBytes(layer);
    layers.push(layer);
  }

  const totalBytes = offset + CHECKSUM_TRAILER_BYTES;
  if (totalBytes > MEMORY_LIMITS.maxFileBytes) {
    throw new InvalidArgumentError(
      `the memory would take ${totalBytes} bytes as ${options.dtype} but a memory file must be smaller than 4 GiB; store it as int8 or float16, or compile fewer buffer tokens`,
      { details: { totalBytes } },
    );
  }
  return { head, layers, totalBytes };
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/** Builds the bytes before a tensor's data: its tag in Layer, its length, meta, the alignment field and the data field's tag and length. */
function tensorPrefix(tag: number, tensor: TensorPlan, layerPrefix: Uint8Array | undefined): Uint8Array {
  const messageBytes = tensorMessageBytes(tensor);
  const prefixBytes = (layerPrefix?.length ?? 0) + 1 + varintSize(messageBytes) + tensorDataStart(tensor);
  const prefix = new Uint8Array(prefixBytes);
  let offset = 0;
  if (layerPrefix !== undefined) {
    prefix.set(layerPrefix, 0);
    offset = layerPrefix.length;
  }
  prefix[offset++] = tag;
  offset = writeVarint(prefix, offset, messageBytes);
  prefix.set(tensor.meta, offset);
  offset += tensor.meta.length;
  prefix[offset++] = TAG_KV_TENSOR_ALIGNMENT;
  offset = writeVarint(prefix, offset, tensor.alignment);
  offset += tensor.alignment; // zero bytes
  prefix[offset++] = TAG_KV_TENSOR_DATA;
  writeVarint(prefix, offset, tensor.dataBytes);
  return prefix;
}

/**
 * Yields the file's bytes in order, ending with the checksum trailer. Tensor data is
 * converted one tensor at a time; a float32 chunk is a view of the memory's own data.
 */
export function* encodeChunks(plan: EncodePlan): Generator<Uint8Array, void, undefined> {
  const hash = createHash("sha256");
  const emit = (chunk: Uint8Array): Uint8Array => {
    hash.update(chunk);
    return chunk;
  };

  yield emit(plan.head);
  for (const layer of plan.layers) {
    const layerBytes = layerMessageBytes(layer);
    const layerPrefix = new Uint8Array(1 + varintSize(layerBytes));
    layerPrefix[0] = TAG_MEMORY_FILE_LAYERS;
    writeVarint(layerPrefix, 1, layerBytes);

    yield emit(tensorPrefix(TAG_LAYER_KEYS, layer.keys, layerPrefix));
    yield emit(encodeStorage(layer.keys.values, layer.keys.dtype, layer.keys.scales, layer.keys.label));
    yield emit(tensorPrefix(TAG_LAYER_VALUES, layer.values, undefined));
    yield emit(encodeStorage(layer.values.values, layer.values.dtype, layer.values.scales, layer.values.label));
  }

  const trailer = new Uint8Array(CHECKSUM_TRAILER_BYTES);
  trailer[0] = TAG_MEMORY_FILE_CHECKSUM;
  trailer[1] = 32;
  trailer.set(hash.digest(), 2);
  yield trailer;
}

/**
 * Encodes `memory` as the bytes of a memory file, storing keys and values as
 * `options.dtype`. Validates the memory first and throws InvalidArgumentError listing
 * every problem, or when a value overflows the chosen dtype.
 */
export function encodeMemory(memory: Memory, options: EncodeOptions): Uint8Array {
  const plan = planEncoding(memory, options);
  const output = new Uint8Array(plan.totalBytes);
  let offset = 0;
  for (const chunk of encodeChunks(plan)) {
    output.set(chunk, offset);
    offset += chunk.length;
  }
  if (offset !== plan.totalBytes) throw new Error(`encodeMemory: wrote ${offset} bytes but planned ${plan.totalBytes}`);
  return output;
}
