/**
 * Decoding a memory file. Nothing in the file is trusted. The framing, the version and
 * the checksum are checked before protobufjs parses anything. Every count, shape and
 * size is checked against the header and against the bytes present before anything is
 * allocated for the tensors.
 *
 * Memory bound: besides the caller's input, decodeMemory allocates the float32 tensors
 * (4 bytes per element, so at most 4 times the input for int8) and protobufjs's message
 * objects, whose tensor bytes are views of the input. float32 data that is 4-byte aligned
 * in the input's buffer is returned as views, with no copy, which every file written by
 * lcc provides when the input starts at an aligned offset.
 *
 * Legend: K buffer tokens, Hkv key/value heads, Dh head width, C = Hkv * Dh channels.
 */

import { createHash } from "node:crypto";
import { InvalidArgumentError, LccError, Tensor } from "@lcc/tensor";
import { MemoryChecksumError, MemoryFormatError, MemoryVersionError } from "./errors.js";
import {
  BYTES_PER_ELEMENT,
  CHECKSUM_TRAILER_BYTES,
  FRAME_HEADER_BYTES,
  type LongLike,
  MAGIC,
  type RawKvTensor,
  type RawMemoryFile,
  TAG_MEMORY_FILE_CHECKSUM,
  dtypeFromCode,
  memoryTypes,
} from "./proto.js";
import { HOST_IS_LITTLE_ENDIAN, decodeStorage } from "./storage.js";
import {
  type DecodeOptions,
  type DecodedMemory,
  type JsonValue,
  MEMORY_FORMAT_VERSION,
  MEMORY_LIMITS,
  type MemoryLayer,
  type StorageDType,
} from "./types.js";
import { type MemoryHeader, checkExpectedModel, checkHeader, expectedTensorShape, formatProblems, isRecord, plural } from "./validate.js";

const CORRUPTED_HINT = "hint: the file is corrupted or truncated; copy it again from its source or compile the memory again";

function formatError(message: string, details: Record<string, unknown> = {}): MemoryFormatError {
  return new MemoryFormatError(`${message}\n${CORRUPTED_HINT}`, { details });
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex");
}

// ---------------------------------------------------------------------------
// Framing: magic, version, checksum
// ---------------------------------------------------------------------------

function checkFraming(bytes: Uint8Array): { major: number; minor: number } {
  if (bytes.length < FRAME_HEADER_BYTES || MAGIC.some((byte, i) => bytes[i] !== byte)) {
    const start = Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16).padStart(2, "0")).join(" ");
    throw new MemoryFormatError(
      `not an lcc memory file: it must start with the bytes "LCCMEM" (4c 43 43 4d 45 4d) but starts with [${start}] (${plural(bytes.length, "byte")} in all)\nhint: check the path; memory files are written by lcc compile and usually end in .lccm`,
      { details: { byteLength: bytes.length } },
    );
  }

  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major > MEMORY_FORMAT_VERSION.major) {
    throw new MemoryVersionError(
      `the memory file has format version ${major}.${minor}, which is newer than the versions this lcc reads (${MEMORY_FORMAT_VERSION.major}.x)\nhint: upgrade lcc to read it`,
      { details: { major, minor } },
    );
  }
  if (major < MEMORY_FORMAT_VERSION.major) {
    throw new MemoryVersionError(
      `the memory file has format version ${major}.${minor} but version 1.0 is the first released format and lcc reads ${MEMORY_FORMAT_VERSION.major}.x only\nhint: compile the memory again with a released lcc`,
      { details: { major, minor } },
    );
  }

  if (bytes.length > MEMORY_LIMITS.maxFileBytes)
    throw formatError(`the memory file has ${bytes.length} bytes but the format allows less than 4 GiB`);
  return { major, minor };
}

/** Checks the checksum trailer and returns the digest as hexadecimal. */
function checkChecksum(bytes: Uint8Array): string {
  const trailerStart = bytes.length - CHECKSUM_TRAILER_BYTES;
  if (trailerStart < FRAME_HEADER_BYTES || bytes[trailerStart] !== TAG_MEMORY_FILE_CHECKSUM || bytes[trailerStart + 1] !== 32) {
    throw new MemoryChecksumError(
      `the memory file does not end with its checksum (${plural(bytes.length, "byte")} in all; the last 34 bytes must be the checksum field)\n${CORRUPTED_HINT}`,
      { details: { byteLength: bytes.length } },
    );
  }

  const stored = bytes.subarray(trailerStart + 2);
  const computed = createHash("sha256").update(bytes.subarray(0, trailerStart)).digest();
  if (!computed.equals(stored)) {
    throw new MemoryChecksumError(
      `the memory file's checksum does not match its content: the file stores sha256 ${hex(stored)} but its bytes hash to ${computed.toString("hex")}\n${CORRUPTED_HINT}`,
      { details: { stored: hex(stored), computed: computed.toString("hex") } },
    );
  }
  return hex(stored);
}

function parseMessage(bytes: Uint8Array): RawMemoryFile {
  try {
    return memoryTypes().MemoryFile.decode(bytes) as unknown as RawMemoryFile;
  } catch (error) {
    // protobufjs raises plain Errors and RangeErrors for malformed input.
    throw new MemoryFormatError(`the memory file is not a valid MemoryFile protobuf: ${(error as Error).message}\n${CORRUPTED_HINT}`, {
      cause: error,
    });
  }
}

// ---------------------------------------------------------------------------
// Header: protobuf fields to the Memory fields, collecting problems
// ---------------------------------------------------------------------------

/** Converts an int64 position, which protobufjs returns as a Long, to a number. An unsafe result is reported by checkHeader. */
function toPosition(value: number | LongLike): number {
  return typeof value === "number" ? value : value.toNumber();
}

function parseOptions(problems: string[], text: string): Record<string, JsonValue> {
  try {
    const options: unknown = JSON.parse(text);
    if (isRecord(options)) return options as Record<string, JsonValue>;
    problems.push(`provenance.options_json must hold a JSON object, got ${text.slice(0, 40)}`);
  } catch (error) {
    problems.push(`provenance.options_json is not valid JSON: ${(error as Error).message}`);
  }
  return {};
}

function parseFinalLosses(problems: string[], losses: { name: string; value: number }[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const { name, value } of losses) {
    if (Object.hasOwn(result, name)) problems.push(`provenance.final_losses has the name "${name}" twice`);
    Object.defineProperty(result, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

function toHeader(problems: string[], message: RawMemoryFile): MemoryHeader {
  const missing = (["producer", "model", "compression", "provenance", "source"] as const).filter(
    (field) => message[field] === null || message[field] === undefined,
  );
  if (missing.length > 0)
    throw formatError(
      `the memory file has no ${missing.join(", ")} field${missing.length === 1 ? "" : "s"}; a memory file must have every field of format 1.0`,
    );
  const { producer, model, compression, provenance, source } = message as { [K in keyof RawMemoryFile]: NonNullable<RawMemoryFile[K]> };

  return {
    producer: { name: producer.name, version: producer.version },
    fingerprint: {
      name: model.name,
      architecture: model.architecture,
      configSha256: model.config_sha256,
      weightsSha256: model.weights_sha256,
      tokenizerSha256: model.tokenizer_sha256,
      numLayers: model.num_layers,
      numKvHeads: model.num_kv_heads,
      headDim: model.head_dim,
    },
    compression: {
      sourceTokens: compression.source_tokens,
      bufferTokens: compression.buffer_tokens,
      ratio: compression.ratio,
      segments: compression.segments.map((segment) => ({
        sourceStart: segment.source_start,
        sourceEnd: segment.source_end,
        bufferStart: segment.buffer_start,
        bufferEnd: segment.buffer_end,
      })),
    },
    positions: message.positions.map(toPosition),
    provenance: {
      options: parseOptions(problems, provenance.options_json),
      steps: provenance.steps,
      finalLosses: parseFinalLosses(problems, provenance.final_losses),
      wallTimeSeconds: provenance.wall_time_seconds,
    },
    sourceSha256: source.sha256,
    ...(Object.hasOwn(source, "text") && typeof source.text === "string" ? { sourceText: source.text } : {}),
    createdAt: message.created_at,
  };
}

// ---------------------------------------------------------------------------
// Tensors
// ---------------------------------------------------------------------------

interface CheckedTensor {
  readonly label: string;
  readonly dtype: StorageDType;
  readonly data: Uint8Array;
  readonly scales: Uint8Array;
}

/** Checks one KvTensor's dtype, shape and byte counts against [K, Hkv, Dh], before any allocation. */
function checkTensor(
  problems: string[],
  raw: RawKvTensor | null,
  label: string,
  shape: readonly [number, number, number],
): CheckedTensor | undefined {
  if (raw === null || raw === undefined) {
    problems.push(`${label} is missing`);
    return undefined;
  }
  const dtype = dtypeFromCode(raw.dtype);
  if (dtype === undefined) {
    problems.push(
      `${label} has dtype code ${raw.dtype}, which format ${MEMORY_FORMAT_VERSION.major}.${MEMORY_FORMAT_VERSION.minor} does not define (1 float32, 2 float16, 3 bfloat16, 4 int8); a newer lcc may read it`,
    );
    return undefined;
  }
  if (raw.shape.length !== 3 || raw.shape.some((dim, i) => dim !== shape[i])) {
    problems.push(
      `${label} has shape [${raw.shape.join(", ")}] but must be [K, Hkv, Dh] = [${shape.join(", ")}] from compression.buffer_tokens, model.num_kv_heads and model.head_dim`,
    );
    return undefined;
  }

  const [K, Hkv, Dh] = shape;
  const expectedData = K * Hkv * Dh * BYTES_PER_ELEMENT[dtype];
  const data = raw.data instanceof Uint8Array ? raw.data : new Uint8Array(0);
  const scales = raw.scales instanceof Uint8Array ? raw.scales : new Uint8Array(0);
  const expectedScales = dtype === "int8" ? Hkv * Dh * 4 : 0;
  let valid = true;
  if (data.length !== expectedData) {
    problems.push(`${label} has ${data.length} data bytes but ${dtype} [${shape.join(", ")}] needs ${expectedData}`);
    valid = false;
  }
  if (scales.length !== expectedScales) {
    problems.push(
      dtype === "int8"
        ? `${label} has ${scales.length} scale bytes but int8 needs one float32 scale per channel, ${expectedScales} bytes for [Hkv, Dh] = [${Hkv}, ${Dh}]`
        : `${label} has ${scales.length} scale bytes but only int8 tensors have scales`,
    );
    valid = false;
  }
  return valid ? { label, dtype, data, scales } : undefined;
}

function checkTensors(problems: string[], message: RawMemoryFile, header: MemoryHeader): { keys: CheckedTensor; values: CheckedTensor }[] {
  const numLayers = header.fingerprint.numLayers;
  if (message.layers.length !== numLayers) {
    problems.push(`the file has ${plural(message.layers.length, "layer")} but model.num_layers is ${numLayers}`);
    return [];
  }
  const shape = expectedTensorShape(header);
  if (shape === undefined) return [];

  const layers: { keys: CheckedTensor; values: CheckedTensor }[] = [];
  for (let l = 0; l < message.layers.length; l++) {
    const layer = message.layers[l]!;
    const keys = checkTensor(problems, layer.keys, `layers[${l}].keys`, shape);
    const values = checkTensor(problems, layer.values, `layers[${l}].values`, shape);
    if (keys !== undefined && values !== undefined) layers.push({ keys, values });
  }
  return layers;
}

function summariseDType(layers: readonly { keys: CheckedTensor; values: CheckedTensor }[]): StorageDType | "mixed" {
  const dtypes = new Set(layers.flatMap((layer) => [layer.keys.dtype, layer.values.dtype]));
  return dtypes.size === 1 ? [...dtypes][0]! : "mixed";
}

// ---------------------------------------------------------------------------
// Public entry point
// ---------------------------------------------------------------------------

/**
 * Decodes the bytes of a memory file into float32 keys and values, widening float16 and
 * bfloat16 and dequantising int8. float32 tensors may be views of `bytes`, so `bytes`
 * must not be modified while the memory is in use.
 *
 * Throws MemoryFormatError (wrong magic, malformed or inconsistent content),
 * MemoryVersionError (a format this lcc cannot read), MemoryChecksumError (corrupted or
 * truncated) and, with `options.expect`, MemoryModelMismatchError.
 */
export function decodeMemory(bytes: Uint8Array, options: DecodeOptions = {}): DecodedMemory {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`decodeMemory: bytes must be a Uint8Array, got ${String(bytes)}`);
  if (typeof options !== "object" || options === null)
    throw new InvalidArgumentError(`decodeMemory: options must be an object, got ${String(options)}`);
  if (!HOST_IS_LITTLE_ENDIAN) throw new LccError("memory files are little-endian and this host is big-endian, which lcc does not support");

  // 1. Framing, version and checksum, before any parsing.
  const framingVersion = checkFraming(bytes);
  const checksum = checkChecksum(bytes);

  // 2. The protobuf message without the checksum trailer.
  const message = parseMessage(bytes.subarray(FRAME_HEADER_BYTES, bytes.length - CHECKSUM_TRAILER_BYTES));
  const version = message.format_version;
  if (version === null || version === undefined || version.major !== framingVersion.major || version.minor !== framingVersion.minor) {
    const stored = version === null || version === undefined ? "missing" : `${version.major}.${version.minor}`;
    throw formatError(
      `the memory file's format_version field is ${stored} but its bytes 6 and 7 say ${framingVersion.major}.${framingVersion.minor}; they must agree`,
    );
  }
  if (message.checksum instanceof Uint8Array && message.checksum.length > 0) {
    throw formatError("the memory file has a checksum field before its end; the checksum must be the last field and appear once");
  }

  // 3. Every field except the tensor data, with all problems reported at once.
  const problems: string[] = [];
  const header = toHeader(problems, message);
  checkHeader(problems, header);
  const checkedLayers = problems.length === 0 ? checkTensors(problems, message, header) : [];
  if (problems.length > 0) {
    throw formatError(`the memory file is invalid (${plural(problems.length, "problem")}):\n${formatProblems(problems)}`, { problems });
  }

  // 4. The model, before the tensors are widened.
  const expected = options.expect;
  if (expected !== undefined) checkExpectedModel(header.fingerprint, expected);

  // 5. Tensor data to float32 [K, Hkv, Dh].
  const shape = expectedTensorShape(header)!;
  const layers: MemoryLayer[] = [];
  for (const layer of checkedLayers) {
    const keys = decodeStorage(layer.keys.data, layer.keys.dtype, layer.keys.scales, layer.keys.label);
    const values = decodeStorage(layer.values.data, layer.values.dtype, layer.values.scales, layer.values.label);
    if (!keys.ok) problems.push(keys.problem);
    if (!values.ok) problems.push(values.problem);
    if (keys.ok && values.ok)
      layers.push({ keys: new Tensor("float32", shape, keys.values), values: new Tensor("float32", shape, values.values) });
  }
  if (problems.length > 0) {
    throw formatError(`the memory file is invalid (${plural(problems.length, "problem")}):\n${formatProblems(problems)}`, { problems });
  }

  return { ...header, layers, formatVersion: framingVersion, storedDType: summariseDType(checkedLayers), checksum };
}
