/**
 * Errors raised while loading plugins. Each one names the plugin's specifier, and
 * `details.specifier` contains it for callers.
 */

import { LccError } from "@lcc/tensor";

/** No module was found for a plugin's package name or path. */
export class PluginNotFoundError extends LccError {}

/** A plugin module has no default export. */
export class PluginDefaultExportError extends LccError {}

/** A plugin's default export is not `{ name, version, register(api) }`. */
export class PluginShapeError extends LccError {}

/** Two plugins share a name, or a plugin registers a name that is already taken. */
export class PluginDuplicateError extends LccError {}

/** A plugin module threw while it was imported, or its register function failed. */
export class PluginLoadError extends LccError {}
