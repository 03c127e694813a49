/**
 * loadPlugins: imports plugin modules, checks their default export, and calls each
 * plugin's register function with a PluginApi that records what it adds. Plugins load
 * one at a time, in the order given, into registries shared by the whole process.
 */

import { realpath } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { hasQueryPool, registerQueryPool } from "@lcc/compiler";
import { listLosses, registerLoss } from "@lcc/losses";
import { listModelFamilies, registerModelFamily } from "@lcc/models";
import { hasArtifactStore, registerArtifactStore } from "./artifact-stores.js";
import { PluginDefaultExportError, PluginDuplicateError, PluginLoadError, PluginShapeError } from "./errors.js";
import { type LccPlugin, PLUGIN_API_VERSION, type PluginApi } from "./plugin.js";
import { resolvePluginFile } from "./resolve.js";

export interface LoadPluginsOptions {
  /** Folder that package names are looked up from and paths are relative to. Default: process.cwd(). */
  readonly from?: string;
}

/** Names a plugin added, by kind. */
export interface PluginContributions {
  readonly losses: readonly string[];
  readonly queryPools: readonly string[];
  readonly modelFamilies: readonly string[];
  readonly artifactStores: readonly string[];
}

export interface LoadedPlugin {
  readonly name: string;
  readonly version: string;
  readonly description: string | null;
  /** The specifier it was first loaded with. */
  readonly specifier: string;
  /** The imported file. */
  readonly file: string;
  readonly contributions: PluginContributions;
}

type ContributionKind = keyof PluginContributions;

/** Plugins loaded in this process, by real file path. */
const loadedByFile = new Map<string, LoadedPlugin>();
/** "kind:name" → the plugin that registered it. */
const owners = new Map<string, string>();

const KIND_WORDS: Record<ContributionKind, string> = {
  losses: "loss",
  queryPools: "query pool",
  modelFamilies: "model family",
  artifactStores: "artifact store",
};

/** Splits a comma-separated list such as $LCC_PLUGINS into trimmed, non-empty specifiers. */
export function parsePluginList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

/** Returns the plugins loaded so far in this process, in load order. */
export function listLoadedPlugins(): LoadedPlugin[] {
  return [...loadedByFile.values()];
}

/**
 * Loads every plugin in `specifiers` (package names or paths, see resolvePluginFile) and
 * returns them in order. A module already loaded in this process is not loaded again.
 * Throws PluginNotFoundError, PluginLoadError (the module or its register function
 * threw), PluginDefaultExportError, PluginShapeError, or PluginDuplicateError (a plugin
 * name, or a name the plugin registers, is already taken). Plugins loaded before the
 * failing one stay loaded.
 */
export async function loadPlugins(specifiers: readonly string[], options: LoadPluginsOptions = {}): Promise<LoadedPlugin[]> {
  if (!Array.isArray(specifiers) || !specifiers.every((specifier) => typeof specifier === "string" && specifier.length > 0)) {
    throw new PluginShapeError(`loadPlugins expects an array of non-empty specifier strings, got ${JSON.stringify(specifiers)}`);
  }
  const from = options.from ?? process.cwd();
  const loaded: LoadedPlugin[] = [];
  for (const specifier of specifiers) loaded.push(await loadPlugin(specifier, from));
  return loaded;
}

async function loadPlugin(specifier: string, from: string): Promise<LoadedPlugin> {
  // Step 1: find the module; one already loaded is returned as it is.
  const file = await realpath(await resolvePluginFile(specifier, from));
  const known = loadedByFile.get(file);
  if (known !== undefined) return known;

  // Step 2: import it and check its default export.
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new PluginLoadError(`plugin ${JSON.stringify(specifier)} (${file}) failed to load: ${(error as Error).message}`, {
      cause: error,
      details: { specifier, file },
    });
  }
  if (!("default" in module) || module.default === undefined) {
    throw new PluginDefaultExportError(
      `plugin ${JSON.stringify(specifier)} (${file}) has no default export; a plugin module must end with "export default { name, version, register(api) { ... } }"`,
      { details: { specifier, file, exports: Object.keys(module) } },
    );
  }
  const plugin = checkPluginShape(module.default, specifier, file);
  const sameName = [...loadedByFile.values()].find((other) => other.name === plugin.name);
  if (sameName !== undefined) {
    throw new PluginDuplicateError(
      `plugin ${JSON.stringify(specifier)} (${file}) is named "${plugin.name}", like the plugin already loaded from ${sameName.file}; load only one of them`,
      {
        details: { specifier, file, name: plugin.name, other: sameName.file },
      },
    );
  }

  // Step 3: register its contributions.
  // NOTE: names registered before register() fails stay registered; the registries have no removal.
  const contributions: Record<ContributionKind, string[]> = { losses: [], queryPools: [], modelFamilies: [], artifactStores: [] };
  try {
    await plugin.register(createPluginApi(plugin.name, contributions));
  } catch (error) {
    if (error instanceof PluginDuplicateError) throw error;
    throw new PluginLoadError(`plugin "${plugin.name}" (${file}) failed in register(): ${(error as Error).message}`, {
      cause: error,
      details: { specifier, file, name: plugin.name },
    });
  }

  const record: LoadedPlugin = Object.freeze({
    name: plugin.name,
    version: plugin.version,
    description: plugin.description ?? null,
    specifier,
    file,
    contributions: Object.freeze(contributions),
  });
  loadedByFile.set(file, record);
  return record;
}

/** Returns the plugin, or throws PluginShapeError listing every problem with it. */
function checkPluginShape(value: unknown, specifier: string, file: string): LccPlugin {
  const problems: string[] = [];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(
      `the default export must be an object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`,
    );
  } else {
    const candidate = value as Record<string, unknown>;
    if (typeof candidate.name !== "string" || candidate.name.trim().length === 0)
      problems.push(`"name" must be a non-empty string, got ${JSON.stringify(candidate.name)}`);
    if (typeof candidate.version !== "string" || candidate.version.trim().length === 0)
      problems.push(`"version" must be a non-empty string, got ${JSON.stringify(candidate.version)}`);
    if (typeof candidate.register !== "function") problems.push(`"register" must be a function, got ${typeof candidate.register}`);
    if (candidate.description !== undefined && typeof candidate.description !== "string")
      problems.push(`"description" must be a string when present`);
  }
  if (problems.length > 0) {
    throw new PluginShapeError(
      `plugin ${JSON.stringify(specifier)} (${file}) has an invalid default export:\n${problems.map((problem) => `  - ${problem}`).join("\n")}\n` +
        "hint: export default { name, version, register(api) { ... } }",
      { details: { specifier, file, problems } },
    );
  }
  return value as LccPlugin;
}

/** Creates a PluginApi whose calls record their names under `pluginName` and reject names that another plugin or a built-in uses. */
function createPluginApi(pluginName: string, contributions: Record<ContributionKind, string[]>): PluginApi {
  const claim = (kind: ContributionKind, name: string, isTaken: boolean, register: () => void): void => {
    const key = `${kind}:${name}`;
    if (isTaken) {
      const owner = owners.get(key);
      const by = owner === undefined ? "built in" : `registered by plugin "${owner}"`;
      throw new PluginDuplicateError(
        `plugin "${pluginName}" registers the ${KIND_WORDS[kind]} "${name}", which is already ${by}; rename one of them`,
        {
          details: { plugin: pluginName, kind, name, owner: owner ?? null },
        },
      );
    }
    register();
    owners.set(key, pluginName);
    contributions[kind].push(name);
  };

  return Object.freeze({
    apiVersion: PLUGIN_API_VERSION,
    registerLoss(definition) {
      const name = definition?.name;
      claim(
        "losses",
        name,
        listLosses().some((loss) => loss.name === name),
        () => registerLoss(definition),
      );
    },
    registerQueryPool(name, entries) {
      claim("queryPools", name, typeof name === "string" && hasQueryPool(name), () => registerQueryPool(name, entries));
    },
    registerModelFamily(family) {
      const name = family?.name;
      claim("modelFamilies", name, listModelFamilies().includes(name), () => registerModelFamily(family));
    },
    registerArtifactStore(name, store) {
      claim("artifactStores", name, typeof name === "string" && hasArtifactStore(name), () => registerArtifactStore(name, store));
    },
  } satisfies PluginApi);
}
