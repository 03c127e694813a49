/**
 * The plugin interface: a plugin is an ES module whose default export is `{ name, version, register }`.
 * `register` receives a PluginApi and adds losses, query pools, model families and
 * artifact stores through it.
 */

import type { QueryPoolLoader } from "@lcc/compiler";
import type { LossDefinition } from "@lcc/losses";
import type { ModelFamily } from "@lcc/models";
import type { ArtifactStore, ArtifactStoreFactory } from "./artifact-stores.js";

/** Version of the PluginApi object; it grows only by new optional members within a version. */
export const PLUGIN_API_VERSION = 1;

export interface PluginApi {
  /** PLUGIN_API_VERSION of the host that loads the plugin. */
  readonly apiVersion: number;
  /** Adds a loss that `lcc compile --reconstruction-loss` and the compiler options can name. */
  registerLoss(definition: LossDefinition): void;
  /** Adds a query pool that `lcc compile --query-pool <name>` can use: its entries, or a loader run on first use. */
  registerQueryPool(name: string, entries: readonly string[] | QueryPoolLoader): void;
  /** Maps another architecture's config.json onto a supported one (see ModelFamily). */
  registerModelFamily(family: ModelFamily): void;
  /** Adds an artifact store: a ready store object, or a factory that opens one at a location. */
  registerArtifactStore(name: string, store: ArtifactStore | ArtifactStoreFactory): void;
}

export interface LccPlugin {
  /** Unique name, usually the npm package name, e.g. "@lcc/plugin-query-pool-fables". */
  readonly name: string;
  /** The plugin's version, e.g. "0.1.0". */
  readonly version: string;
  /** One sentence shown in listings. */
  readonly description?: string;
  /** Adds the plugin's contributions. May be async; the loader waits for it. */
  register(api: PluginApi): void | Promise<void>;
}

/** Returns `plugin` unchanged; it only gives a plugin module's default export its type. */
export function definePlugin(plugin: LccPlugin): LccPlugin {
  return plugin;
}
