/**
 * Packs a compiled memory into the artifact form that `@lcc/artifact` writes to disk.
 */

import { createHash } from "node:crypto";
import type { JsonValue, Memory, ModelFingerprint } from "@lcc/artifact";
import type { CompiledMemory } from "./compile-context.js";

export interface ArtifactDetails {
  readonly fingerprint: ModelFingerprint;
  /** The context text, hashed into the artifact; stored only with `includeSourceText`. */
  readonly sourceText: string;
  readonly includeSourceText?: boolean;
  readonly producerVersion: string;
  /** Extra provenance entries, e.g. the query pool's name. */
  readonly extraOptions?: Readonly<Record<string, JsonValue>>;
}

function jsonOptions(compiled: CompiledMemory, extra: Readonly<Record<string, JsonValue>>): Record<string, JsonValue> {
  return { ...(JSON.parse(JSON.stringify(compiled.options)) as Record<string, JsonValue>), ...extra };
}

export function toMemoryArtifact(compiled: CompiledMemory, details: ArtifactDetails): Memory {
  // Buffer ranges of each segment follow one another.
  let bufferStart = 0;
  const segments = compiled.segments.map((segment) => {
    const entry = { sourceStart: segment.start, sourceEnd: segment.end, bufferStart, bufferEnd: bufferStart + segment.bufferTokens };
    bufferStart += segment.bufferTokens;
    return entry;
  });
  const last = compiled.segments.at(-1);
  return {
    producer: { name: "lcc", version: details.producerVersion },
    fingerprint: details.fingerprint,
    compression: { sourceTokens: compiled.sourceTokens, bufferTokens: compiled.bufferTokens, ratio: compiled.options.ratio, segments },
    positions: compiled.positions,
    layers: compiled.layers,
    provenance: {
      options: jsonOptions(compiled, details.extraOptions ?? {}),
      steps: compiled.segments.reduce((sum, s) => sum + s.steps, 0),
      finalLosses: last?.finalLosses ?? {},
      wallTimeSeconds: compiled.wallSeconds,
    },
    sourceSha256: createHash("sha256").update(details.sourceText, "utf8").digest("hex"),
    ...(details.includeSourceText ? { sourceText: details.sourceText } : {}),
    createdAt: new Date().toISOString(),
  };
}
