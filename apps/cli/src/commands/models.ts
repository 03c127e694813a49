/**
 * `lcc models`: model management (convert).
 */

import { convertToHfFolder, loadModel } from "@lcc/models";
import { type Command, Option } from "commander";

interface ConvertCommandOptions {
  output: string;
  dtype: "float32" | "float16" | "bfloat16";
}

export function registerModels(program: Command): void {
  const models = program.command("models").description("Manage models.");
  models
    .command("convert")
    .description("Convert a model (for example a llama2.c checkpoint and its tokenizer) into a Hugging Face style folder.")
    .argument("<source>", "model folder, llama2.c checkpoint, or a model name inside $LCC_MODELS")
    .requiredOption("-o, --output <folder>", "folder to write config.json, model.safetensors, tokenizer.json and tokenizer_config.json into")
    .addOption(new Option("--dtype <dtype>", "dtype of the written weights").choices(["float32", "float16", "bfloat16"]).default("float32"))
    .action(async (source: string, options: ConvertCommandOptions) => {
      const resolved = await loadModel(source);
      await convertToHfFolder(resolved, options.output, { dtype: options.dtype });
      process.stderr.write(`converted ${resolved.path} (${resolved.format}) into ${options.output}\n`);
    });
}
