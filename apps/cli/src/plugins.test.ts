import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./test/run-cli.js";
import { sharedPath } from "./test/shared.js";

/** apps/cli, whose package.json lists the example plugin, so that it resolves by name from here. */
const CLI_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const STORY =
  "A little goat named Bram lived on a green hill. Every morning he climbed to the top to look at the river. " +
  "One day a crow told him that the bridge was broken, so Bram walked down to help the farmer fix it.";

/** Compile options that keep a compile of the story to about a second. */
const QUICK = ["--steps", "2", "--queries", "2", "--answer-tokens", "4", "--ratio", "4", "--quiet"];

describe("plugins on the command line", () => {
  let folder: string;
  let storyFile: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-plugins-"));
    storyFile = path.join(folder, "story.txt");
    await writeFile(storyFile, STORY);
    env = { LCC_MODELS: sharedPath("models") };
  });

  it("loads the example plugin by name and compiles with its pool", async () => {
    const output = path.join(folder, "fables.lccm");
    const compiled = await runCli(
      [
        "--plugin",
        "@lcc/plugin-query-pool-fables",
        "compile",
        storyFile,
        "--model",
        "stories260K",
        "--output",
        output,
        "--query-pool",
        "fables",
        ...QUICK,
      ],
      { env, cwd: CLI_ROOT },
    );
    expect(compiled.stderr).toMatch(/wrote .*fables\.lccm: \d+ context tokens -> \d+ memory tokens/);
    expect(compiled.code).toBe(0);

    const inspected = await runCli(["inspect", "--json", output]);
    expect(inspected.code).toBe(0);
    const metadata = JSON.parse(inspected.stdout) as { provenance: { options: { queryPool: string; queries: number } } };
    expect(metadata.provenance.options.queryPool).toBe("fables");
    expect(metadata.provenance.options.queries).toBe(2);
  });

  it("reports the pool as unknown without the plugin", async () => {
    const result = await runCli(
      ["compile", storyFile, "--model", "stories260K", "--output", path.join(folder, "none.lccm"), "--query-pool", "fables", ...QUICK],
      {
        env,
        cwd: CLI_ROOT,
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "lcc: QueryPoolError: query pool file not found: fables; check the path, use a named pool (instructions, story-openings), or load the plugin that adds the pool",
    );
  });

  it("loads plugins from LCC_PLUGINS and lists them", async () => {
    const pluginFile = path.join(folder, "local-pool.mjs");
    await writeFile(
      pluginFile,
      'export default { name: "local-pool", version: "0.0.1", register(api) { api.registerQueryPool("local-openings", ["The old bear said that", "A kind fox found"]); } };\n',
    );
    const output = path.join(folder, "local.lccm");
    const compiled = await runCli(
      ["compile", storyFile, "--model", "stories260K", "--output", output, "--query-pool", "local-openings", ...QUICK],
      {
        env: { ...env, LCC_PLUGINS: "./local-pool.mjs" },
        cwd: folder,
      },
    );
    expect(compiled.code).toBe(0);
    const inspected = JSON.parse((await runCli(["inspect", "--json", output])).stdout) as {
      provenance: { options: { queryPool: string } };
    };
    expect(inspected.provenance.options.queryPool).toBe("local-openings");

    // --plugin adds to LCC_PLUGINS.
    const listed = await runCli(["--plugin", "@lcc/plugin-query-pool-fables", "plugins"], {
      env: { LCC_PLUGINS: pluginFile },
      cwd: CLI_ROOT,
    });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe(
      `local-pool 0.0.1 (${pluginFile}): query pools: local-openings\n` +
        `@lcc/plugin-query-pool-fables 0.1.0 (${path.resolve(CLI_ROOT, "../../plugins/query-pool-fables/dist/index.js")}): query pools: fables\n`,
    );
  });

  it("reports loader errors with exit code 1", async () => {
    await writeFile(path.join(folder, "no-default.mjs"), "export const name = 'x';\n");
    await writeFile(path.join(folder, "wrong-shape.mjs"), "export default { name: 'x' };\n");
    const cases: [string, RegExp][] = [
      ["./missing.mjs", /^lcc: PluginNotFoundError: plugin file not found: .*missing\.mjs \("\.\/missing\.mjs" resolved against /],
      [
        "@nobody/absent-plugin",
        /^lcc: PluginNotFoundError: plugin package "@nobody\/absent-plugin" was not found in any node_modules folder from /,
      ],
      ["./no-default.mjs", /^lcc: PluginDefaultExportError: plugin "\.\/no-default\.mjs" \(.*\) has no default export/],
      [
        "./wrong-shape.mjs",
        /^lcc: PluginShapeError: plugin "\.\/wrong-shape\.mjs" \(.*\) has an invalid default export:\n {2}- "version" must be a non-empty string, got undefined\n {2}- "register" must be a function, got undefined/,
      ],
    ];
    for (const [specifier, pattern] of cases) {
      const result = await runCli(["--plugin", specifier, "models", "list"], { cwd: folder });
      expect(result.code, specifier).toBe(1);
      expect(result.stderr, specifier).toMatch(pattern);
    }
  });

  it("rejects two plugins with the same name", async () => {
    await writeFile(path.join(folder, "twin-one.mjs"), 'export default { name: "twin", version: "1", register() {} };\n');
    await writeFile(path.join(folder, "twin-two.mjs"), 'export default { name: "twin", version: "2", register() {} };\n');
    const result = await runCli(["--plugin", "./twin-one.mjs", "--plugin", "./twin-two.mjs", "plugins"], { cwd: folder });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^lcc: PluginDuplicateError: plugin "\.\/twin-two\.mjs" \(.*\) is named "twin", like the plugin already loaded from .*twin-one\.mjs; load only one of them/,
    );
  });
});
