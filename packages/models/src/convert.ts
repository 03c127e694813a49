/**
 * Conversion of any loadable model into a Hugging Face style folder.
 */

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { saveHfFolder } from "./hf-folder.js";
import type { ResolvedModel } from "./load.js";
import { writeTextFileAtomic } from "./safetensors/atomic-write.js";

export interface ConvertOptions {
  /** Weight dtype in the written model.safetensors. Default "float32". */
  readonly dtype?: "float32" | "float16" | "bfloat16";
}

/** Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json into `outputDir`. */
export async function convertToHfFolder(source: ResolvedModel, outputDir: string, options: ConvertOptions = {}): Promise<void> {
  await mkdir(outputDir, { recursive: true });
  await saveHfFolder(outputDir, source.model, { dtype: options.dtype ?? "float32" });
  await writeTextFileAtomic(path.join(outputDir, "tokenizer.json"), `${JSON.stringify(source.tokenizer.toJson(), null, 2)}\n`);
  const tokenizerConfig = source.tokenizer.tokenizerConfig();
  await writeTextFileAtomic(path.join(outputDir, "tokenizer_config.json"), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
}
