/**
 * `lcc models`: model management (pull, list, convert).
 */

import {
  DEFAULT_MAX_FILE_BYTES,
  KNOWN_MODELS,
  type PullProgressEvent,
  convertToHfFolder,
  listCachedModels,
  loadModel,
  modelCacheDir,
  pullModel,
} from "@lcc/models";
import { type Command, Option } from "commander";
import { integerOption } from "../options.js";
import { ProgressLine } from "../progress-bar.js";

interface ConvertCommandOptions {
  output: string;
  dtype: "float32" | "float16" | "bfloat16";
}

interface PullCommandOptions {
  revision?: string;
  maxFileBytes: number;
  quiet?: boolean;
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function registerModels(program: Command): void {
  const models = program.command("models").description("Manage models.");
  const knownNames = [...KNOWN_MODELS.keys()].join(", ");

  models
    .command("pull")
    .description(
      `Download a model into the cache ($LCC_CACHE_DIR/models, default ~/.cache/lcc/models) and check its sha256. ` +
        `Known models: ${knownNames}. The hub is $LCC_HUB_URL (default https://huggingface.co); $HF_TOKEN is sent as a bearer token when set. ` +
        "With LCC_OFFLINE=1 the pull fails before any request unless the model is already complete in the cache.",
    )
    .argument("<model>", 'a known model name, or a hub id such as "owner/name" or "owner/name@revision"')
    .option("--revision <revision>", "branch, tag or commit of a hub id (default: main)")
    .option(
      "--max-file-bytes <bytes>",
      "largest size in bytes accepted for a file whose size lcc does not pin (every file of a hub id); a larger file fails the pull",
      integerOption("--max-file-bytes", 1),
      DEFAULT_MAX_FILE_BYTES,
    )
    .option("-q, --quiet", "print no progress")
    .action(async (model: string, options: PullCommandOptions) => {
      const progress = new ProgressLine(process.stderr, options.quiet === true);
      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once("SIGINT", onSignal);
      try {
        const pulled = await pullModel(model, {
          revision: options.revision,
          maxFileBytes: options.maxFileBytes,
          signal: controller.signal,
          onProgress: (event) => showPullProgress(progress, event),
        });
        progress.finish();
        const size = formatBytes(pulled.files.reduce((sum, file) => sum + file.size, 0));
        const action = pulled.downloadedBytes === 0 ? "already cached" : `downloaded ${formatBytes(pulled.downloadedBytes)}`;
        process.stderr.write(`${pulled.name}: ${action}; ${pulled.files.length} files, ${size}, sha256 checked\n`);
        process.stdout.write(`${pulled.path}\n`);
      } finally {
        process.off("SIGINT", onSignal);
        progress.finish();
      }
    });

  models
    .command("list")
    .description("List the models in the download cache ($LCC_CACHE_DIR/models, default ~/.cache/lcc/models).")
    .option("--json", "print the list as JSON")
    .action(async (options: { json?: boolean }) => {
      const cached = await listCachedModels();
      if (options.json === true) {
        const rows = cached.map((entry) => ({
          name: entry.name,
          path: entry.path,
          complete: entry.complete,
          bytes: entry.bytes,
          repo: entry.manifest.repo,
          revision: entry.manifest.revision,
          commit: entry.manifest.commit,
          files: entry.manifest.files,
        }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (cached.length === 0) {
        process.stderr.write(`no models in ${modelCacheDir()}; download one with "lcc models pull <model>"\n`);
        return;
      }
      const width = Math.max(...cached.map((entry) => entry.name.length));
      for (const entry of cached) {
        const state = entry.complete ? "" : `  (incomplete: run "lcc models pull ${entry.name}" to resume)`;
        process.stdout.write(`${entry.name.padEnd(width)}  ${formatBytes(entry.bytes).padStart(10)}  ${entry.path}${state}\n`);
      }
    });

  models
    .command("convert")
    .description("Convert a model (for example a llama2.c checkpoint and its tokenizer) into a Hugging Face style folder.")
    .argument("<source>", "model folder, llama2.c checkpoint, or a model name inside $LCC_MODELS")
    .requiredOption(
      "-o, --output <folder>",
      "folder to write config.json, model.safetensors, tokenizer.json and tokenizer_config.json into",
    )
    .addOption(new Option("--dtype <dtype>", "dtype of the written weights").choices(["float32", "float16", "bfloat16"]).default("float32"))
    .action(async (source: string, options: ConvertCommandOptions) => {
      const resolved = await loadModel(source);
      await convertToHfFolder(resolved, options.output, { dtype: options.dtype });
      process.stderr.write(`converted ${resolved.path} (${resolved.format}) into ${options.output}\n`);
    });
}

/** Renders pull events on the progress line: one bar per file, in KiB. */
function showPullProgress(progress: ProgressLine, event: PullProgressEvent): void {
  if (event.type === "bytes" && event.totalBytes !== null) {
    progress.update(`pull ${event.file}`, Math.round(event.bytesDone / 1024), Math.round(event.totalBytes / 1024), "KiB");
  } else if (event.type === "retry") {
    progress.finish();
    process.stderr.write(
      `retrying ${event.file} (attempt ${event.attempt} of ${event.maxAttempts}, from byte ${event.resumeFrom}): ${event.reason}\n`,
    );
  } else if (event.type === "file-done") {
    progress.finish();
  }
}
