/**
 * Plugins on the command line: the global `--plugin <specifier>` option (repeatable) and
 * $LCC_PLUGINS (comma-separated) load plugins before any command runs, and
 * `lcc plugins` lists what they added.
 */

import { type LoadedPlugin, listLoadedPlugins, loadPlugins, parsePluginList } from "@lcc/plugin-api";
import type { Command } from "commander";

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function describeContributions(plugin: LoadedPlugin): string {
  const parts = [
    ["losses", plugin.contributions.losses],
    ["query pools", plugin.contributions.queryPools],
    ["model families", plugin.contributions.modelFamilies],
    ["artifact stores", plugin.contributions.artifactStores],
  ] as const;
  const listed = parts.filter(([, names]) => names.length > 0).map(([kind, names]) => `${kind}: ${names.join(", ")}`);
  return listed.length === 0 ? "adds nothing" : listed.join("; ");
}

export function registerPlugins(program: Command): void {
  program.option(
    "--plugin <specifier>",
    "load a plugin before the command runs: a package name (looked up from the current folder) or a path; repeatable, and added after those in $LCC_PLUGINS (comma-separated)",
    collect,
  );

  // Commander runs the root's preAction hooks before the action of every subcommand.
  program.hook("preAction", async () => {
    const specifiers = [...parsePluginList(process.env.LCC_PLUGINS), ...((program.opts().plugin as string[] | undefined) ?? [])];
    if (specifiers.length > 0) await loadPlugins(specifiers, { from: process.cwd() });
  });

  program
    .command("plugins")
    .description("List the plugins loaded through --plugin and $LCC_PLUGINS, and what each one added.")
    .option("--json", "print the list as JSON")
    .action((options: { json?: boolean }) => {
      const plugins = listLoadedPlugins();
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify(plugins, null, 2)}\n`);
        return;
      }
      if (plugins.length === 0) {
        process.stderr.write("no plugins loaded; load one with --plugin <package or path> or $LCC_PLUGINS\n");
        return;
      }
      for (const plugin of plugins)
        process.stdout.write(`${plugin.name} ${plugin.version} (${plugin.file}): ${describeContributions(plugin)}\n`);
    });
}
