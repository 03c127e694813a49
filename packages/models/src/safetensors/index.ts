/**
 * safetensors files: reading, atomic writing and sharded checkpoints.
 */

export {
  MAX_HEADER_BYTES,
  SAFETENSORS_DTYPES,
  type SafetensorsEntry,
  type SafetensorsHeader,
  parseSafetensorsHeader,
  safetensorsDTypeName,
} from "./format.js";
export { type SafetensorsContents, readSafetensors, readSafetensorsHeader, readSafetensorsWithMetadata } from "./read.js";
export { writeSafetensors } from "./write.js";
export {
  SAFETENSORS_INDEX_FILE,
  type SafetensorsIndex,
  type ShardedHeaders,
  type WriteShardedOptions,
  readSafetensorsIndex,
  readShardedHeaders,
  readShardedSafetensors,
  writeShardedSafetensors,
} from "./sharded.js";
