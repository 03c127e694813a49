/**
 * @lcc/plugin-api: the plugin interface of lcc. A plugin is an ES module whose default
 * export is `{ name, version, register(api) }`. loadPlugins imports plugins by package
 * name or path and lets them add losses, query pools, model families and artifact stores.
 */

export * from "./errors.js";
export * from "./plugin.js";
export * from "./artifact-stores.js";
export { isPathSpecifier, resolvePluginFile } from "./resolve.js";
export {
  type LoadPluginsOptions,
  type LoadedPlugin,
  type PluginContributions,
  listLoadedPlugins,
  loadPlugins,
  parsePluginList,
} from "./loader.js";
