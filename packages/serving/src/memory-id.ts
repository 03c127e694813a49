/**
 * Memory ids: a sha256 over what the engine reads from a memory, so that the same
 * memory gets the same id whether it arrives as a file, as bytes or as an object.
 *
 * Legend: K buffer tokens, Hkv key/value heads, Dh head width.
 */

import { createHash } from "node:crypto";
import type { Memory } from "@lcc/artifact";

/** Prefix of the hashed bytes; a change to what is hashed must change this version. */
const ID_DOMAIN = "lcc.memory-id.v1\n";

/**
 * Returns the lowercase hexadecimal sha256 of the decoded payload: the model's hashes
 * (architecture, config, weights, tokenizer), the positions, then the float32 keys and
 * values of each layer in layer order, little-endian.
 *
 * The readable model name, producer, provenance, source hash and creation time are not
 * hashed, so one memory written twice (for example with two creation times) keeps one id.
 * Storage dtype is not hashed either, but it changes the decoded values: the float32 and
 * float16 files of one memory get different ids.
 */
export function memoryId(memory: Memory): string {
  const hash = createHash("sha256");
  const { architecture, configSha256, weightsSha256, tokenizerSha256 } = memory.fingerprint;
  hash.update(ID_DOMAIN);
  hash.update(JSON.stringify({ architecture, configSha256, weightsSha256, tokenizerSha256, positions: memory.positions }));
  hash.update("\n");
  for (const layer of memory.layers) {
    for (const tensor of [layer.keys, layer.values]) {
      const data = tensor.data; // [K, Hkv, Dh] float32
      hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  }
  return hash.digest("hex");
}

/** Bytes the engine holds for a memory: its float32 keys and values plus 8 bytes a position. */
export function memoryByteSize(memory: Memory): number {
  let bytes = memory.positions.length * 8;
  for (const layer of memory.layers) bytes += layer.keys.data.byteLength + layer.values.data.byteLength;
  return bytes;
}
