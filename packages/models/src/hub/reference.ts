/**
 * Model references: a known model's short name ("stories260K") or a hub id
 * ("owner/name" or "owner/name@revision"), and the cache folder each one maps to.
 */

import path from "node:path";
import os from "node:os";
import { ModelReferenceError } from "./errors.js";
import { KNOWN_MODELS, type KnownModel } from "./known-models.js";

export const DEFAULT_REVISION = "main";

/** One path segment of a hub id: letters, digits, '.', '_' and '-', not starting with '.' or '-'. */
const HUB_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
/** A branch, tag or commit; '/' is not allowed so that a revision stays one folder name. */
const REVISION = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export type ModelReference =
  | {
      readonly kind: "known";
      /** The name as typed and as the cache folder is called, e.g. "stories260K". */
      readonly name: string;
      readonly model: KnownModel;
      readonly repo: string;
      readonly revision: string;
      /** Cache folder relative to `<cacheDir>/models`. */
      readonly folder: string;
    }
  | {
      readonly kind: "hub";
      /** "owner/name", plus "@revision" unless the revision is "main". */
      readonly name: string;
      readonly repo: string;
      readonly revision: string;
      readonly folder: string;
    };

/**
 * Returns the reference that `text` denotes, or null when it is neither a known model's
 * name nor shaped like a hub id (one '/' between two segments, with an optional
 * "@revision"). `revision` overrides a revision inside `text`, and must agree with it.
 */
export function parseModelReference(text: string, revision?: string): ModelReference | null {
  if (typeof text !== "string") throw new ModelReferenceError(`a model reference must be a string, got ${typeof text}`);
  if (revision !== undefined && !REVISION.test(revision)) {
    throw new ModelReferenceError(
      `invalid revision ${JSON.stringify(revision)}; use a branch, tag or commit made of letters, digits, '.', '_' and '-'`,
      {
        details: { revision },
      },
    );
  }

  // Known models: pinned files, so no revision other than the pinned one.
  const known = KNOWN_MODELS.get(text);
  if (known !== undefined) {
    if (revision !== undefined && revision !== known.revision) {
      throw new ModelReferenceError(
        `"${known.name}" is a known model pinned to revision ${known.revision} of ${known.repo}; drop --revision, or pull "${known.repo}@${revision}" as a hub id`,
        { details: { name: known.name, revision } },
      );
    }
    return { kind: "known", name: known.name, model: known, repo: known.repo, revision: known.revision, folder: known.name };
  }

  // Hub ids: owner/name[@revision].
  const at = text.indexOf("@");
  const repo = at === -1 ? text : text.slice(0, at);
  const inlineRevision = at === -1 ? undefined : text.slice(at + 1);
  const segments = repo.split("/");
  if (segments.length !== 2 || !segments.every((segment) => HUB_SEGMENT.test(segment) && !segment.includes(".."))) return null;
  if (inlineRevision !== undefined && !REVISION.test(inlineRevision)) {
    throw new ModelReferenceError(
      `invalid revision ${JSON.stringify(inlineRevision)} in ${JSON.stringify(text)}; use a branch, tag or commit made of letters, digits, '.', '_' and '-'`,
      {
        details: { reference: text },
      },
    );
  }
  if (inlineRevision !== undefined && revision !== undefined && inlineRevision !== revision) {
    throw new ModelReferenceError(
      `${JSON.stringify(text)} names revision ${inlineRevision} but --revision is ${revision}; give the revision once`,
      {
        details: { reference: text, revision },
      },
    );
  }
  const chosen = revision ?? inlineRevision ?? DEFAULT_REVISION;
  const [owner, repoName] = segments as [string, string];
  const suffix = chosen === DEFAULT_REVISION ? "" : `@${chosen}`;
  return { kind: "hub", name: `${repo}${suffix}`, repo, revision: chosen, folder: path.join(owner, `${repoName}${suffix}`) };
}

/** Like parseModelReference, but throws ModelReferenceError instead of returning null. */
export function requireModelReference(text: string, revision?: string): ModelReference {
  const reference = parseModelReference(text, revision);
  if (reference === null) {
    const known = [...KNOWN_MODELS.keys()].map((name) => `"${name}"`).join(", ");
    throw new ModelReferenceError(
      `${JSON.stringify(text)} is neither a known model (${known}) nor a hub id; write a hub id as owner/name or owner/name@revision, e.g. "HuggingFaceTB/SmolLM2-135M"`,
      { details: { reference: text } },
    );
  }
  return reference;
}

/** Returns the lcc cache root: the `cacheDir` option, else $LCC_CACHE_DIR, else ~/.cache/lcc. */
export function lccCacheDir(cacheDir?: string): string {
  if (cacheDir !== undefined && cacheDir !== "") return path.resolve(cacheDir);
  const fromEnvironment = process.env.LCC_CACHE_DIR;
  if (fromEnvironment !== undefined && fromEnvironment !== "") return path.resolve(fromEnvironment);
  return path.join(os.homedir(), ".cache", "lcc");
}

/** Returns the folder that contains downloaded models: `<cache root>/models`. */
export function modelCacheDir(cacheDir?: string): string {
  return path.join(lccCacheDir(cacheDir), "models");
}
