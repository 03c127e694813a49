/**
 * pullModel: downloads a known model or a Hugging Face hub repository into the lcc
 * cache (`<cacheDir>/models/<name>`), in a layout that loadModel reads.
 *
 * A hub id fetches config.json, tokenizer.json, tokenizer_config.json when present, and
 * model.safetensors or, when the repository has none, model.safetensors.index.json and
 * every shard it lists. Only the `resolve` file URLs of the hub are used, so any server
 * that serves `<hub>/<owner>/<name>/resolve/<revision>/<file>` works as a mirror.
 */

import { mkdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { InvalidArgumentError } from "@lcc/tensor";
import { parseHfConfig } from "../hf-config.js";
import { SAFETENSORS_INDEX_FILE, readSafetensorsIndex } from "../safetensors/sharded.js";
import { type DownloadSettings, type DownloadTask, type DownloadedFile, type PullProgressEvent, downloadFile } from "./download.js";
import { DownloadError, HubNotFoundError, OfflineError } from "./errors.js";
import type { FetchFunction } from "./http.js";
import { type ManifestFile, type ModelManifest, MANIFEST_VERSION, readManifest, writeManifest } from "./manifest.js";
import { type ModelReference, modelCacheDir, parseModelReference, requireModelReference } from "./reference.js";
import { DEFAULT_MAX_FILE_BYTES } from "./size-limits.js";

export const DEFAULT_HUB_URL = "https://huggingface.co";

export interface PullOptions {
  /** Branch, tag or commit of a hub id; the same as writing "owner/name@revision". */
  readonly revision?: string;
  /** lcc cache root; models go to `<cacheDir>/models`. Default: $LCC_CACHE_DIR, else ~/.cache/lcc. */
  readonly cacheDir?: string;
  /** Hub base URL. Default: $LCC_HUB_URL, else https://huggingface.co. */
  readonly hubUrl?: string;
  /** Bearer token sent to the hub (never to hosts it redirects to). Default: $HF_TOKEN; null sends none. */
  readonly token?: string | null;
  readonly onProgress?: (event: PullProgressEvent) => void;
  /** Cancels the pull; partial files stay for a later resume. */
  readonly signal?: AbortSignal;
  /** HTTP client. Default: Node's global fetch. */
  readonly fetch?: FetchFunction;
  /** A request fails when the server sends nothing for this many milliseconds. Default: 30000. */
  readonly timeoutMs?: number;
  /** Further attempts per file after a broken connection, a timeout or a server error. Default: 3. */
  readonly retries?: number;
  /** Wait before the first retry, doubled before each further one, in milliseconds. Default: 1000. */
  readonly retryDelayMs?: number;
  /**
   * Largest size in bytes accepted for a file whose size lcc does not pin (every file of a
   * hub id). A larger size announced by the hub or the server, or a body that grows past
   * it, raises FileTooLargeError and deletes the partial file. Files with a pinned size
   * are held to exactly that size instead. Default: 17179869184 (16 GiB).
   */
  readonly maxFileBytes?: number;
  /**
   * Forbid downloads: a pull that needs any file raises OfflineError before sending a
   * request, and only a model already complete in the cache is returned.
   * Default: true when $LCC_OFFLINE is "1".
   */
  readonly offline?: boolean;
}

export interface PulledModel {
  /** "stories260K" or "owner/name[@revision]". */
  readonly name: string;
  /** The model folder, ready for loadModel. */
  readonly path: string;
  readonly repo: string;
  readonly revision: string;
  readonly commit: string | null;
  readonly files: readonly ManifestFile[];
  /** Bytes transferred by this call; 0 when every file was already in the cache. */
  readonly downloadedBytes: number;
}

function checkOptions(options: PullOptions): void {
  const problems: string[] = [];
  const { timeoutMs, retries, retryDelayMs, maxFileBytes } = options;
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0))
    problems.push(`timeoutMs must be a positive number, got ${timeoutMs}`);
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0))
    problems.push(`retries must be an integer >= 0, got ${retries}`);
  if (retryDelayMs !== undefined && !(Number.isFinite(retryDelayMs) && retryDelayMs >= 0))
    problems.push(`retryDelayMs must be a number >= 0, got ${retryDelayMs}`);
  if (maxFileBytes !== undefined && !(Number.isSafeInteger(maxFileBytes) && maxFileBytes > 0))
    problems.push(`maxFileBytes must be a positive integer, got ${maxFileBytes}`);
  if (options.offline !== undefined && typeof options.offline !== "boolean")
    problems.push(`offline must be a boolean, got ${typeof options.offline}`);
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") problems.push("onProgress must be a function");
  if (options.fetch !== undefined && typeof options.fetch !== "function") problems.push("fetch must be a function");
  if (problems.length > 0) throw new InvalidArgumentError(`invalid pull options: ${problems.join("; ")}`, { details: { problems } });
}

/** Returns the hub base URL without a trailing slash, and throws InvalidArgumentError unless it is an http(s) URL. */
export function hubBaseUrl(hubUrl?: string): string {
  const chosen = hubUrl ?? (process.env.LCC_HUB_URL || DEFAULT_HUB_URL);
  let parsed: URL;
  try {
    parsed = new URL(chosen);
  } catch {
    throw new InvalidArgumentError(
      `the hub URL ${JSON.stringify(chosen)} is not a valid URL; set LCC_HUB_URL to a URL such as ${DEFAULT_HUB_URL}`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new InvalidArgumentError(`the hub URL ${chosen} must use http or https`);
  }
  return parsed.href.replace(/\/+$/, "");
}

/** URL of one file: `<hub>/<owner>/<name>/resolve/<revision>/<path>`, each part escaped. */
export function hubFileUrl(hubUrl: string, repo: string, revision: string, remotePath: string): string {
  const escapedPath = remotePath.split("/").map(encodeURIComponent).join("/");
  return `${hubUrl}/${repo}/resolve/${encodeURIComponent(revision)}/${escapedPath}`;
}

/**
 * Downloads `nameOrHubId` into the cache and returns its folder. Files already in place
 * are kept, and an interrupted file resumes from its `.part` file.
 *
 * Throws ModelReferenceError for a name that is neither known nor a hub id, and
 * OfflineError, before any request, when offline mode is on and the model is not
 * complete in the cache. Download failures raise HubNotFoundError, HubAuthError,
 * ChecksumMismatchError, SizeMismatchError, FileTooLargeError, DownloadTimeoutError,
 * DownloadAbortedError or DownloadError. A hub model whose
 * config.json describes an architecture lcc cannot run raises UnsupportedModelError
 * before any weights are fetched.
 */
export async function pullModel(nameOrHubId: string, options: PullOptions = {}): Promise<PulledModel> {
  checkOptions(options);
  const reference = requireModelReference(nameOrHubId, options.revision);
  const folder = path.join(modelCacheDir(options.cacheDir), reference.folder);

  // A complete manifest whose files are all in place means there is nothing to do.
  // NOTE: a cached branch such as "main" is not compared with the hub's current commit;
  // delete the model folder to download a newer commit.
  const existing = await readManifest(folder);
  if (existing !== null && (await isCompleteCache(folder, existing, reference))) {
    return {
      name: reference.name,
      path: folder,
      repo: existing.repo,
      revision: existing.revision,
      commit: existing.commit,
      files: existing.files,
      downloadedBytes: 0,
    };
  }

  // Offline mode stops here, before the hub URL is even read.
  if (options.offline ?? process.env.LCC_OFFLINE === "1") {
    const switchedOn = options.offline === undefined ? "offline mode (LCC_OFFLINE=1)" : "offline mode (the offline option)";
    const fix = options.offline === undefined ? "unset LCC_OFFLINE to pull it" : "pass offline: false to pull it";
    throw new OfflineError(
      `"${reference.name}" is not complete in the download cache ${modelCacheDir(options.cacheDir)}, and ${switchedOn} forbids downloads; ${fix}`,
      { details: { name: reference.name, offline: true } },
    );
  }

  const hubUrl = hubBaseUrl(options.hubUrl);
  const settings: DownloadSettings = {
    hubOrigin: new URL(hubUrl).origin,
    token: options.token === undefined ? process.env.HF_TOKEN || null : options.token,
    fetch: options.fetch ?? globalThis.fetch,
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? 30_000,
    retries: options.retries ?? 3,
    retryDelayMs: options.retryDelayMs ?? 1000,
    maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    onProgress: options.onProgress ?? (() => undefined),
  };

  // NOTE: two processes pulling the same model at once share the `.part` files; the
  // checksum then fails and the pull has to be run again.
  await mkdir(folder, { recursive: true });
  const manifest = (status: ModelManifest["status"], files: readonly ManifestFile[], commit: string | null): ModelManifest => ({
    version: MANIFEST_VERSION,
    name: reference.name,
    status,
    hubUrl: stripCredentials(hubUrl),
    repo: reference.repo,
    revision: reference.revision,
    commit,
    updatedAt: new Date().toISOString(),
    files,
  });
  await writeManifest(folder, manifest("incomplete", existing?.files ?? [], existing?.commit ?? null));

  const pulled =
    reference.kind === "known"
      ? await pullKnownFiles(reference, folder, hubUrl, settings)
      : await pullHubFiles(reference, folder, hubUrl, settings);
  await writeManifest(folder, manifest("complete", pulled.files, pulled.commit));
  return {
    name: reference.name,
    path: folder,
    repo: reference.repo,
    revision: reference.revision,
    commit: pulled.commit,
    files: pulled.files,
    downloadedBytes: pulled.downloadedBytes,
  };
}

/** Checks that `manifest` is complete and describes `reference`, and that every file it lists has its recorded size. */
async function isCompleteCache(folder: string, manifest: ModelManifest, reference: ModelReference): Promise<boolean> {
  if (manifest.status !== "complete" || manifest.name !== reference.name) return false;
  for (const file of manifest.files) {
    const size = await stat(path.join(folder, file.path)).then(
      (info) => info.size,
      () => null,
    );
    if (size !== file.size) return false;
  }
  return true;
}

/**
 * Returns the cache folder of `nameOrHubId` when a complete download of it is there,
 * and null otherwise (also for a name that is neither a known model nor a hub id).
 */
export async function findCachedModel(nameOrHubId: string, options: { cacheDir?: string; revision?: string } = {}): Promise<string | null> {
  const reference = parseModelReference(nameOrHubId, options.revision);
  if (reference === null) return null;
  const folder = path.join(modelCacheDir(options.cacheDir), reference.folder);
  const manifest = await readManifest(folder);
  return manifest !== null && (await isCompleteCache(folder, manifest, reference)) ? folder : null;
}

function stripCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = "";
  parsed.password = "";
  return parsed.href.replace(/\/+$/, "");
}

interface PulledFiles {
  readonly files: ManifestFile[];
  readonly commit: string | null;
  readonly downloadedBytes: number;
}

/** Collects downloaded files into manifest entries. */
class FileCollector {
  readonly files: ManifestFile[] = [];
  commit: string | null = null;
  downloadedBytes = 0;

  add(localName: string, remotePath: string, file: DownloadedFile): void {
    this.files.push({ path: localName, remotePath, size: file.bytes, sha256: file.sha256, verifiedBy: file.verifiedBy });
    this.commit ??= file.commit;
    if (!file.alreadyPresent) this.downloadedBytes += file.bytes;
  }

  result(): PulledFiles {
    return { files: this.files, commit: this.commit, downloadedBytes: this.downloadedBytes };
  }
}

async function pullKnownFiles(
  reference: Extract<ModelReference, { kind: "known" }>,
  folder: string,
  hubUrl: string,
  settings: DownloadSettings,
): Promise<PulledFiles> {
  const collector = new FileCollector();
  const files = reference.model.files;
  for (const [index, file] of files.entries()) {
    settings.onProgress({ type: "file-start", file: file.localName, index, count: files.length });
    const task: DownloadTask = {
      url: hubFileUrl(hubUrl, reference.repo, reference.revision, file.remotePath),
      destination: path.join(folder, file.localName),
      label: file.localName,
      expectedSha256: file.sha256,
      expectedSize: file.size,
    };
    const downloaded = await downloadFile(task, settings);
    if (downloaded !== null) collector.add(file.localName, file.remotePath, downloaded);
  }
  return collector.result();
}

async function pullHubFiles(
  reference: Extract<ModelReference, { kind: "hub" }>,
  folder: string,
  hubUrl: string,
  settings: DownloadSettings,
): Promise<PulledFiles> {
  const collector = new FileCollector();
  let index = 0;
  const fetchFile = async (name: string, optional: boolean): Promise<DownloadedFile | null> => {
    settings.onProgress({ type: "file-start", file: name, index: index++, count: null });
    const task: DownloadTask = {
      url: hubFileUrl(hubUrl, reference.repo, reference.revision, name),
      destination: path.join(folder, name),
      label: name,
    };
    const downloaded = await downloadFile(task, settings, optional);
    if (downloaded !== null) collector.add(name, name, downloaded);
    return downloaded;
  };

  // Step 1: config.json first, so that an unsupported architecture fails before any weights.
  await fetchFile("config.json", false);
  try {
    parseHfConfig(JSON.parse(await readFile(path.join(folder, "config.json"), "utf8")), reference.name);
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    if (error instanceof SyntaxError)
      throw new DownloadError(`config.json of ${reference.name} is not valid JSON (${error.message}); the model folder was removed`, {
        cause: error,
      });
    throw error;
  }

  // Step 2: tokenizer files.
  await fetchFile("tokenizer.json", false);
  await fetchFile("tokenizer_config.json", true);

  // Step 3: weights, in one file or as shards listed by an index.
  if ((await fetchFile("model.safetensors", true)) === null) {
    const indexFile = await fetchFile(SAFETENSORS_INDEX_FILE, true);
    if (indexFile === null) {
      throw new HubNotFoundError(
        `${reference.repo} at revision ${reference.revision} has neither model.safetensors nor ${SAFETENSORS_INDEX_FILE}\n` +
          "hint: lcc reads safetensors weights only; convert a pytorch_model.bin checkpoint to safetensors first",
        { details: { repo: reference.repo, revision: reference.revision } },
      );
    }
    const shardIndex = await readSafetensorsIndex(path.join(folder, SAFETENSORS_INDEX_FILE));
    for (const shard of new Set(shardIndex.weightMap.values())) await fetchFile(shard, false);
  }
  return collector.result();
}
