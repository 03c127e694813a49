/**
 * Writing safetensors files.
 */

import { DTYPE_BYTES, FileFormatError, InvalidArgumentError, type Tensor } from "@lcc/tensor";

import { writeAll, writeFileAtomic } from "./atomic-write.js";
import { HEADER_LENGTH_BYTES, HOST_IS_LITTLE_ENDIAN, METADATA_KEY, type PlannedEntry, SAFETENSORS_DTYPES, encodeSafetensorsHeader } from "./format.js";

/** Checks the arguments of a write, listing every problem in one error. */
function checkWriteArguments(path: string, tensors: ReadonlyMap<string, Tensor>, metadata: Readonly<Record<string, string>> | undefined): void {
  const problems: string[] = [];
  const supported = new Set(Object.values(SAFETENSORS_DTYPES));
  for (const [name, tensor] of tensors) {
    if (name.length === 0) problems.push("a tensor has an empty name");
    if (name === METADATA_KEY) problems.push(`a tensor cannot be named "${METADATA_KEY}", which the format reserves for metadata`);
    if (!supported.has(tensor.dtype)) problems.push(`tensor "${name}" has dtype ${tensor.dtype}, which safetensors cannot store`);
  }
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value !== "string") problems.push(`metadata["${key}"] must be a string, found ${typeof value}`);
  }
  if (problems.length > 0) {
    throw new InvalidArgumentError(`cannot write safetensors file ${path}:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`, {
      details: { path, problems },
    });
  }
}

/**
 * Orders tensors by decreasing element size, keeping the map order among equal sizes.
 * With the data section starting at a multiple of 8, every tensor then starts at a
 * multiple of its element size, so readers can view the bytes without copying.
 */
function planLayout(tensors: ReadonlyMap<string, Tensor>): { entry: PlannedEntry; tensor: Tensor }[] {
  const planned = [...tensors].map(([name, tensor]) => ({
    entry: { name, dtype: tensor.dtype, shape: tensor.shape, byteLength: tensor.data.byteLength },
    tensor,
  }));
  return planned.sort((a, b) => DTYPE_BYTES[b.entry.dtype] - DTYPE_BYTES[a.entry.dtype]);
}

/**
 * Writes `tensors` and optional `metadata` strings to a safetensors file at `path`,
 * replacing it atomically. Tensor bytes are written from the tensors' own arrays
 * without an intermediate copy.
 */
export async function writeSafetensors(path: string, tensors: ReadonlyMap<string, Tensor>, metadata?: Readonly<Record<string, string>>): Promise<void> {
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new FileFormatError(`cannot write ${path}: safetensors data is little-endian and this host is big-endian`, { details: { path } });
  }
  checkWriteArguments(path, tensors, metadata);
  const layout = planLayout(tensors);
  const header = encodeSafetensorsHeader(
    layout.map(({ entry }) => entry),
    metadata,
  );

  await writeFileAtomic(path, async (handle) => {
    const prefix = new Uint8Array(HEADER_LENGTH_BYTES);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
    await writeAll(handle, prefix);
    await writeAll(handle, header);
    for (const { tensor } of layout) {
      const data = tensor.data;
      await writeAll(handle, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  });
}
