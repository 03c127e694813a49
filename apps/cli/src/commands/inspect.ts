/**
 * `lcc inspect`: prints a memory file's metadata.
 */

import { readMemoryFile } from "@lcc/artifact";
import type { Command } from "commander";

/** Escapes control characters (C0, DEL and C1) as \u{…} so that a forged file cannot drive the terminal. */
export function printable(text: string): string {
  let out = "";
  for (const character of text) {
    const code = character.codePointAt(0) as number;
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    out += control ? `\\u{${code.toString(16)}}` : character;
  }
  return out;
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("Print a memory file's metadata: model, compression, positions, storage and provenance.")
    .argument("<memory>", "memory file (.lccm)")
    .option("--json", "print the metadata as JSON")
    .action(async (file: string, options: { json?: boolean }) => {
      const memory = await readMemoryFile(file);
      const first = memory.layers[0];
      const elementsPerLayer = first === undefined ? 0 : first.keys.size + first.values.size;
      const metadata = {
        file,
        formatVersion: `${memory.formatVersion.major}.${memory.formatVersion.minor}`,
        producer: `${memory.producer.name} ${memory.producer.version}`,
        createdAt: memory.createdAt,
        model: memory.fingerprint,
        compression: memory.compression,
        positions: { first: memory.positions[0], last: memory.positions.at(-1), count: memory.positions.length },
        storage: { dtype: memory.storedDType, layers: memory.layers.length, float32Bytes: elementsPerLayer * 4 * memory.layers.length },
        provenance: memory.provenance,
        sourceSha256: memory.sourceSha256,
        sourceTextIncluded: memory.sourceText !== undefined,
        checksum: memory.checksum,
      };
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify(metadata, null, 2)}\n`);
        return;
      }
      const { compression } = memory;
      // Names come from the file, so control characters are shown escaped rather than sent to the terminal.
      const fingerprint = { ...memory.fingerprint, name: printable(memory.fingerprint.name), architecture: printable(memory.fingerprint.architecture) };
      const lines = [
        `file:         ${printable(file)}`,
        `format:       ${metadata.formatVersion}, written by ${printable(metadata.producer)} at ${printable(memory.createdAt)}`,
        `model:        ${fingerprint.name} (${fingerprint.architecture}, ${fingerprint.numLayers} layers, ${fingerprint.numKvHeads} key/value heads of ${fingerprint.headDim})`,
        `  weights:    sha256 ${fingerprint.weightsSha256}`,
        `compression:  ${compression.sourceTokens} context tokens -> ${compression.bufferTokens} memory tokens (ratio ${compression.ratio}, ${compression.segments.length} segment${compression.segments.length === 1 ? "" : "s"})`,
        `positions:    ${metadata.positions.first} .. ${metadata.positions.last}`,
        `storage:      ${memory.storedDType}; ${formatBytes(metadata.storage.float32Bytes)} as float32 in memory`,
        `provenance:   ${memory.provenance.steps} steps in ${memory.provenance.wallTimeSeconds.toFixed(1)}s; final losses ${printable(JSON.stringify(memory.provenance.finalLosses))}`,
        `source:       sha256 ${memory.sourceSha256}${metadata.sourceTextIncluded ? " (text included)" : ""}`,
        `checksum:     ${memory.checksum}`,
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
