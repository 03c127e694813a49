/**
 * Model downloads from a Hugging Face style hub into the lcc cache.
 */

export * from "./errors.js";
export { KNOWN_MODELS, type KnownModel, type KnownModelFile } from "./known-models.js";
export {
  DEFAULT_REVISION,
  type ModelReference,
  lccCacheDir,
  modelCacheDir,
  parseModelReference,
  requireModelReference,
} from "./reference.js";
export type { DownloadedFile, PullProgressEvent, Verification } from "./download.js";
export type { FetchFunction } from "./http.js";
export { DEFAULT_MAX_FILE_BYTES } from "./size-limits.js";
export { type CachedModel, MANIFEST_FILE, type ManifestFile, type ModelManifest, listCachedModels } from "./manifest.js";
export { DEFAULT_HUB_URL, type PullOptions, type PulledModel, findCachedModel, hubBaseUrl, hubFileUrl, pullModel } from "./pull.js";
