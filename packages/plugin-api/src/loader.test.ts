import { mkdir, mkdtemp, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type CompileProgress, compileContext, getQueryPool } from "@lcc/compiler";
import { getLoss } from "@lcc/losses";
import { listModelFamilies, loadModel, parseHfConfig } from "@lcc/models";
import { beforeAll, describe, expect, it } from "vitest";
import { openArtifactStore } from "./artifact-stores.js";
import { PluginDefaultExportError, PluginDuplicateError, PluginLoadError, PluginNotFoundError, PluginShapeError } from "./errors.js";
import { listLoadedPlugins, loadPlugins, parsePluginList } from "./loader.js";
import { sharedPath } from "./test/shared.js";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "test", "fixtures");

/** Creates a temporary project folder, with `files` mapping relative paths to contents. */
async function project(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), "lcc-plugins-"));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
  return root;
}

/** Source of a plugin module that registers the query pools `pools`. */
function poolPlugin(name: string, pools: string[]): string {
  const calls = pools
    .map((pool) => `api.registerQueryPool(${JSON.stringify(pool)}, ["Once there was a fox who", "The moon looked down and"]);`)
    .join("\n    ");
  return `export default {\n  name: ${JSON.stringify(name)},\n  version: "0.0.1",\n  register(api) {\n    ${calls}\n  },\n};\n`;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const result = await promise.then(
    () => null,
    (error: unknown) => error,
  );
  if (!(result instanceof Error)) throw new Error("expected the promise to reject");
  return result;
}

describe("loadPlugins", () => {
  it("loads a plugin by path and registers every hook", async () => {
    const [loaded] = await loadPlugins(["./everything-plugin.mjs"], { from: FIXTURES });
    expect(loaded?.name).toBe("everything-fixture");
    expect(loaded?.version).toBe("1.2.3");
    expect(loaded?.file).toBe(path.join(FIXTURES, "everything-plugin.mjs"));
    expect(loaded?.contributions).toEqual({
      losses: ["double-ce"],
      queryPools: ["fixture-lazy-pool"],
      modelFamilies: ["fixture-family"],
      artifactStores: ["memory-fixture"],
    });

    // Each contribution is visible through the registry that owns it.
    expect(getLoss("double-ce").needsTeacher).toBe(false);
    expect(await getQueryPool("fixture-lazy-pool")).toEqual(["The fox said", "A small bird sang"]);
    expect(listModelFamilies()).toContain("fixture-family");
    const config = parseHfConfig(
      {
        architectures: ["FixtureLlamaForCausalLM"],
        vocab_size: 32,
        hidden_size: 16,
        intermediate_size: 32,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        max_position_embeddings: 64,
        rms_norm_eps: 1e-5,
        bos_token_id: 1,
        eos_token_id: 2,
      },
      "fixture",
    );
    expect(config.architecture).toBe("llama");
    const store = await openArtifactStore("memory-fixture");
    await store.put("a.lccm", Uint8Array.of(1, 2, 3));
    expect(await store.get("a.lccm")).toEqual(Uint8Array.of(1, 2, 3));
    expect(await store.list()).toEqual(["a.lccm"]);
  });

  it("loads a module only once", async () => {
    const first = await loadPlugins(["./everything-plugin.mjs"], { from: FIXTURES });
    const second = await loadPlugins([path.join(FIXTURES, "everything-plugin.mjs"), "./everything-plugin.mjs"], { from: FIXTURES });
    expect(second[0]).toBe(first[0]);
    expect(second[1]).toBe(first[0]);
    expect(listLoadedPlugins().filter((plugin) => plugin.name === "everything-fixture")).toHaveLength(1);
  });

  it("compiles with a loss that a plugin added", async () => {
    await loadPlugins(["./everything-plugin.mjs"], { from: FIXTURES });
    const resolved = await loadModel(sharedPath("models", "stories260K"));
    const contextIds = resolved.tokenizer.encode("Tom had a red ball. He threw it to his dog, and the dog ran after it.", {
      addBos: false,
    });
    const firstReconstructionLoss = async (loss: string): Promise<number> => {
      const steps: Extract<CompileProgress, { type: "step" }>[] = [];
      await compileContext({
        model: resolved.model,
        contextIds,
        queryPool: [],
        options: { steps: 1, queries: 0, ratio: 4, seed: 3, threads: 1, reconstructionLoss: loss },
        sessionOptions: { cacheDir: null },
        onProgress: (event) => {
          if (event.type === "step") steps.push(event);
        },
      });
      return steps[0]?.losses.reconstruction as number;
    };
    const ce = await firstReconstructionLoss("ce");
    const doubled = await firstReconstructionLoss("double-ce");
    expect(ce).toBeGreaterThan(0.1);
    expect(Math.abs(doubled - 2 * ce) / (2 * ce)).toBeLessThan(1e-5);
  });

  it("resolves package names from node_modules upwards, using the import condition", async () => {
    const root = await project({
      "node_modules/@acme/lcc-pools/package.json": JSON.stringify({
        name: "@acme/lcc-pools",
        exports: { ".": { import: "./esm/main.mjs", require: "./cjs/main.cjs" }, "./extra": { import: "./extra.mjs" } },
      }),
      "node_modules/@acme/lcc-pools/esm/main.mjs": poolPlugin("@acme/lcc-pools", ["acme-pool"]),
      "node_modules/@acme/lcc-pools/extra.mjs": poolPlugin("@acme/lcc-pools-extra", ["acme-extra-pool"]),
      "node_modules/plain-main/package.json": JSON.stringify({ name: "plain-main", main: "lib/plugin.mjs" }),
      "node_modules/plain-main/lib/plugin.mjs": poolPlugin("plain-main", ["plain-main-pool"]),
      "app/src/.keep": "",
    });
    const loaded = await loadPlugins(["@acme/lcc-pools", "@acme/lcc-pools/extra", "plain-main"], { from: path.join(root, "app", "src") });
    expect(loaded.map((plugin) => [plugin.name, plugin.file])).toEqual([
      ["@acme/lcc-pools", path.join(root, "node_modules/@acme/lcc-pools/esm/main.mjs")],
      ["@acme/lcc-pools-extra", path.join(root, "node_modules/@acme/lcc-pools/extra.mjs")],
      ["plain-main", path.join(root, "node_modules/plain-main/lib/plugin.mjs")],
    ]);
    expect(await getQueryPool("acme-pool")).toEqual(["Once there was a fox who", "The moon looked down and"]);
  });

  it("resolves symlinked packages and package folders", async () => {
    const root = await project({
      "packages/linked/package.json": JSON.stringify({ name: "linked-plugin", exports: "./index.mjs" }),
      "packages/linked/index.mjs": poolPlugin("linked-plugin", ["linked-pool"]),
    });
    await mkdir(path.join(root, "app", "node_modules"), { recursive: true });
    await symlink(path.join(root, "packages", "linked"), path.join(root, "app", "node_modules", "linked-plugin"), "dir");
    const [byName] = await loadPlugins(["linked-plugin"], { from: path.join(root, "app") });
    expect(byName?.file).toBe(path.join(root, "packages", "linked", "index.mjs"));
    // The folder path reaches the same module, which is not loaded twice.
    const [byFolder] = await loadPlugins(["../packages/linked"], { from: path.join(root, "app") });
    expect(byFolder).toBe(byName);
  });

  it("splits LCC_PLUGINS lists", () => {
    expect(parsePluginList(" a, ./b.mjs ,,@c/d ")).toEqual(["a", "./b.mjs", "@c/d"]);
    expect(parsePluginList("")).toEqual([]);
    expect(parsePluginList(undefined)).toEqual([]);
  });
});

describe("loadPlugins errors", () => {
  let root: string;

  beforeAll(async () => {
    root = await project({
      "no-default.mjs": `export const plugin = { name: "x", version: "1", register() {} };\n`,
      "bad-shape.mjs": `export default { name: "", version: 3, description: 7 };\n`,
      "array.mjs": `export default [];\n`,
      "throws.mjs": `throw new Error("boom at import");\n`,
      "register-throws.mjs": `export default { name: "register-throws", version: "1", register() { throw new Error("cannot open the database"); } };\n`,
      "twin-a.mjs": poolPlugin("twin", ["twin-a-pool"]),
      "twin-b.mjs": poolPlugin("twin", ["twin-b-pool"]),
      "owner.mjs": poolPlugin("pool-owner", ["owned-pool"]),
      "thief.mjs": poolPlugin("pool-thief", ["owned-pool"]),
      "built-in.mjs": poolPlugin("built-in-clash", ["story-openings"]),
      "empty-folder/.keep": "",
      "node_modules/no-entry/package.json": JSON.stringify({ name: "no-entry", exports: { ".": { require: "./index.cjs" } } }),
    });
  });

  it("reports a missing file", async () => {
    const error = await failure(loadPlugins(["./missing.mjs"], { from: root }));
    expect(error).toBeInstanceOf(PluginNotFoundError);
    expect(error.message).toBe(
      `plugin file not found: ${path.join(root, "missing.mjs")} ("./missing.mjs" resolved against ${root}); check the path`,
    );
  });

  it("reports a missing package", async () => {
    const error = await failure(loadPlugins(["@nobody/lcc-plugin"], { from: root }));
    expect(error).toBeInstanceOf(PluginNotFoundError);
    expect(error.message).toBe(
      `plugin package "@nobody/lcc-plugin" was not found in any node_modules folder from ${root} upwards; install it in your project (npm install @nobody/lcc-plugin) or pass the plugin's path`,
    );
  });

  it("reports packages and folders without an entry", async () => {
    const noEntry = await failure(loadPlugins(["no-entry"], { from: root }));
    expect(noEntry).toBeInstanceOf(PluginNotFoundError);
    expect(noEntry.message).toMatch(
      /plugin package "no-entry" in .* exports no module for "\." under the conditions import, node, default/,
    );
    const folder = await failure(loadPlugins(["./empty-folder"], { from: root }));
    expect(folder).toBeInstanceOf(PluginNotFoundError);
    expect(folder.message).toMatch(/plugin folder .*empty-folder has no entry file/);
    const invalid = await failure(loadPlugins(["not a package!"], { from: root }));
    expect(invalid.message).toMatch(/"not a package!" is neither a path nor a package name/);
  });

  it("reports a module without a default export", async () => {
    const error = await failure(loadPlugins(["./no-default.mjs"], { from: root }));
    expect(error).toBeInstanceOf(PluginDefaultExportError);
    expect(error.name).toBe("PluginDefaultExportError");
    expect(error.message).toMatch(
      /plugin "\.\/no-default\.mjs" \(.*no-default\.mjs\) has no default export; a plugin module must end with "export default \{ name, version, register\(api\) \{ \.\.\. \} \}"/,
    );
  });

  it("lists every problem of a wrongly shaped export", async () => {
    const error = await failure(loadPlugins(["./bad-shape.mjs"], { from: root }));
    expect(error).toBeInstanceOf(PluginShapeError);
    expect(error.message).toContain("has an invalid default export:\n");
    expect(error.message).toContain('  - "name" must be a non-empty string, got ""\n');
    expect(error.message).toContain('  - "version" must be a non-empty string, got 3\n');
    expect(error.message).toContain('  - "register" must be a function, got undefined\n');
    expect(error.message).toContain('  - "description" must be a string when present\n');
    const array = await failure(loadPlugins(["./array.mjs"], { from: root }));
    expect(array.message).toContain("  - the default export must be an object, got an array");
    await expect(loadPlugins("./x.mjs" as unknown as string[])).rejects.toThrow(PluginShapeError);
  });

  it("wraps errors thrown while importing or registering", async () => {
    const atImport = await failure(loadPlugins(["./throws.mjs"], { from: root }));
    expect(atImport).toBeInstanceOf(PluginLoadError);
    expect(atImport.message).toMatch(/plugin "\.\/throws\.mjs" \(.*throws\.mjs\) failed to load: boom at import/);
    const atRegister = await failure(loadPlugins(["./register-throws.mjs"], { from: root }));
    expect(atRegister).toBeInstanceOf(PluginLoadError);
    expect(atRegister.message).toMatch(/plugin "register-throws" \(.*\) failed in register\(\): cannot open the database/);
    expect((atRegister.cause as Error).message).toBe("cannot open the database");
  });

  it("rejects two plugins with one name", async () => {
    await loadPlugins(["./twin-a.mjs"], { from: root });
    const error = await failure(loadPlugins(["./twin-b.mjs"], { from: root }));
    expect(error).toBeInstanceOf(PluginDuplicateError);
    expect(error.message).toMatch(
      /plugin "\.\/twin-b\.mjs" \(.*twin-b\.mjs\) is named "twin", like the plugin already loaded from .*twin-a\.mjs; load only one of them/,
    );
  });

  it("rejects a name that another plugin or a built-in registered", async () => {
    await loadPlugins(["./owner.mjs"], { from: root });
    const stolen = await failure(loadPlugins(["./thief.mjs"], { from: root }));
    expect(stolen).toBeInstanceOf(PluginDuplicateError);
    expect(stolen.message).toBe(
      'plugin "pool-thief" registers the query pool "owned-pool", which is already registered by plugin "pool-owner"; rename one of them',
    );
    const builtIn = await failure(loadPlugins(["./built-in.mjs"], { from: root }));
    expect(builtIn).toBeInstanceOf(PluginDuplicateError);
    expect(builtIn.message).toBe(
      'plugin "built-in-clash" registers the query pool "story-openings", which is already built in; rename one of them',
    );
  });
});
