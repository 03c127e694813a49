/**
 * @lcc/artifact: the memory file format (memory.proto), with encoding, decoding and
 * validation of compiled memories.
 */

export * from "./errors.js";
export * from "./types.js";
export { encodeMemory } from "./encode.js";
export { decodeMemory } from "./decode.js";
export { validateMemory } from "./validate.js";
export { readMemoryFile, writeMemoryFile } from "./file.js";
export { MEMORY_PROTO_SOURCE } from "./schema.js";
