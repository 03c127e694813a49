/**
 * Packs every package under packages/ with pnpm, installs all tarballs offline into an
 * empty project in the system temporary folder, and runs each package there through its
 * public entry point. The same probe also runs against the workspace package, and the two
 * outputs must agree.
 */

import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProbeOutput, probeSource } from "./probes.js";
import {
  type Manifest,
  type WorkspacePackage,
  bareImports,
  listFiles,
  listWorkspacePackages,
  packageNameOf,
  pnpmCommand,
  readManifest,
  REPO_ROOT,
  runCommand,
  sourcesNewerThanBuild,
} from "./workspace.js";

const PACKAGES = listWorkspacePackages();
const REQUIRED_FOLDERS = ["tensor", "models", "compiler", "artifact", "serving"];
const CHECK_DIR = fileURLToPath(new URL("..", import.meta.url));

interface PackedPackage {
  readonly tarball: string;
  /** Paths inside the tarball, without the leading "package/". */
  readonly files: readonly string[];
  /** The tarball's extracted contents. */
  readonly extractedDir: string;
  /** The package.json inside the tarball. */
  readonly manifest: Manifest;
}

interface PackJson {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

let workDir = "";
let projectDir = "";
const packed = new Map<string, PackedPackage>();

/** Packs `pkg` into `destination` and extracts the tarball next to it. */
async function packAndExtract(pnpm: readonly string[], pkg: WorkspacePackage, destination: string): Promise<PackedPackage> {
  const { stdout } = await runCommand([...pnpm, "pack", "--json", "--pack-destination", destination], pkg.dir);
  const report = JSON.parse(stdout) as PackJson;
  const extractedDir = path.join(destination, "extracted", pkg.folder);
  await mkdir(extractedDir, { recursive: true });
  await runCommand(["tar", "-xzf", report.filename, "-C", extractedDir], destination);
  return {
    tarball: report.filename,
    files: report.files.map((file) => file.path).sort(),
    extractedDir,
    manifest: readManifest(path.join(extractedDir, "package", "package.json")),
  };
}

/**
 * Returns pnpm overrides for the consumer project: every packed package resolves to its
 * tarball, and every other dependency links to the copy the workspace install resolved.
 * NOTE: third-party dependencies are linked because an offline install of a version range
 * needs registry metadata in pnpm's cache, and `pnpm install --frozen-lockfile` (what a
 * fresh clone and CI run) leaves none there. The lockfile already pins those versions.
 */
async function consumerOverrides(): Promise<Record<string, string>> {
  const overrides: Record<string, string> = {};
  for (const pkg of PACKAGES) {
    const name = pkg.manifest.name as string;
    overrides[name] = `file:${(packed.get(name) as PackedPackage).tarball}`;
  }
  for (const pkg of PACKAGES) {
    const manifest = (packed.get(pkg.manifest.name as string) as PackedPackage).manifest;
    for (const dependency of Object.keys(manifest.dependencies ?? {})) {
      if (packed.has(dependency)) continue;
      const target = `link:${await realpath(path.join(pkg.dir, "node_modules", dependency))}`;
      const previous = overrides[dependency];
      if (previous !== undefined && previous !== target) {
        throw new Error(
          `${dependency} resolves to two different copies in the workspace (${previous} and ${target}). Use one version range for it in every package under packages/`,
        );
      }
      overrides[dependency] = target;
    }
  }
  return overrides;
}

/** Runs the probe of `packageName` with `cwd` as the importing project and parses its JSON line. */
async function runProbe(packageName: string, cwd: string): Promise<ProbeOutput> {
  const { stdout } = await runCommand([process.execPath, "--input-type=module", "-e", probeSource(packageName)], cwd);
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1] as string) as ProbeOutput;
}

beforeAll(async () => {
  workDir = await realpath(await mkdtemp(path.join(os.tmpdir(), "lcc-package-check-")));
  projectDir = path.join(workDir, "consumer");
  await mkdir(projectDir);
  const pnpm = pnpmCommand();

  // Step 1: pack and extract every package.
  const tarballDir = path.join(workDir, "tarballs");
  const results = await Promise.all(PACKAGES.map((pkg) => packAndExtract(pnpm, pkg, tarballDir)));
  for (const [i, pkg] of PACKAGES.entries()) packed.set(pkg.manifest.name as string, results[i] as PackedPackage);

  // Step 2: install all tarballs into an empty project, offline, with a private store
  // and cache so that nothing is added to the user's pnpm store.
  const consumer = {
    name: "lcc-package-consumer",
    version: "0.0.0",
    private: true,
    type: "module",
    pnpm: { overrides: await consumerOverrides() },
  };
  await writeFile(path.join(projectDir, "package.json"), `${JSON.stringify(consumer, null, 2)}\n`);
  const tarballs = [...packed.values()].map((entry) => entry.tarball);
  const storeOptions = ["--store-dir", path.join(workDir, "pnpm-store"), "--cache-dir", path.join(workDir, "pnpm-cache")];
  await runCommand([...pnpm, "add", "--offline", ...storeOptions, ...tarballs], projectDir);
});

afterAll(async () => {
  if (workDir !== "") await rm(workDir, { recursive: true, force: true });
});

describe("workspace packages", () => {
  it("finds the packages under packages/", () => {
    const folders = PACKAGES.map((pkg) => pkg.folder);
    expect(folders.length).toBeGreaterThan(0);
    expect(folders).toEqual(expect.arrayContaining(REQUIRED_FOLDERS));
  });

  it("lists each one as a devDependency", () => {
    // The devDependencies make turbo build every package before this test runs.
    const devDependencies = readManifest(path.join(CHECK_DIR, "package.json")).devDependencies ?? {};
    const expected = Object.fromEntries(PACKAGES.map((pkg) => [pkg.manifest.name, "workspace:^"]));
    expect(devDependencies).toEqual(expected);
  });

  it("installs into a project outside the workspace", async () => {
    expect(path.relative(REPO_ROOT, projectDir).startsWith("..")).toBe(true);
    const installed = readManifest(path.join(projectDir, "package.json")).dependencies ?? {};
    expect(Object.keys(installed).sort()).toEqual(PACKAGES.map((pkg) => pkg.manifest.name).sort());
  });
});

/** Package-specific checks of the probe values, against hand-computed results. */
const VALUE_CHECKS: Readonly<Record<string, (values: Record<string, unknown>) => void>> = {
  "@lcc/tensor": (values) => {
    expect(values.shape).toEqual([2, 2]);
    expect(values.dtype).toBe("float32");
    expect(values.data).toEqual([1.5, 1.5, 9.5, 11.5]);
  },
  "@lcc/models": (values) => {
    const logits = values.logits as number[];
    expect(values.headDim).toBe(8);
    expect(logits).toHaveLength(96);
    expect(logits.every(Number.isFinite)).toBe(true);
    expect(Math.max(...logits) - Math.min(...logits)).toBeGreaterThan(0);
    expect(values.positions).toEqual([0, 1, 2]);
    expect(values.keyShape).toEqual([1, 2, 3, 8]);
  },
  "@lcc/losses": (values) => {
    expect(values.klName).toBe("kl");
    expect(values.lossNames).toEqual(expect.arrayContaining(["kl", "ce"]));
  },
  "@lcc/compiler": (values) => {
    const rejection = values.rejection as { name: string; isLccError: boolean; message: string } | null;
    expect(values.ratio).toBe(16);
    expect(rejection?.name).toBe("InvalidArgumentError");
    expect(rejection?.isLccError).toBe(true);
    expect(rejection?.message).toMatch(/ratio must be a number ≥ 1, got 0/);
  },
  "@lcc/artifact": (values) => {
    expect(values.storedDType).toBe("float32");
    expect(values.positions).toEqual([32, 33]);
    expect(values.keys).toEqual(Array.from({ length: 8 }, (_, i) => i / 4 - 1));
    expect(values.values).toEqual(Array.from({ length: 8 }, (_, i) => i / 8));
    expect(values.fingerprintName).toBe("tiny");
    expect(values.fileSha256).toMatch(/^[0-9a-f]{64}$/);
  },
  "@lcc/serving": (values) => {
    expect(values.queueFullIsClass).toBe(true);
    expect(values.errorName).toBe("QueueFullError");
    expect(values.isLccError).toBe(true);
    expect(values.memoryBytes).toBe(80);
  },
  "@lcc/evaluation": (values) => {
    expect(values.baselines).toContain("last-k");
    expect(values.tokenF1).toBeCloseTo(0.8, 12);
  },
  "@lcc/plugin-api": (values) => {
    expect(values.plugins).toEqual(["@lcc/plugin-a", "./local.js"]);
  },
};

describe.each(PACKAGES.map((pkg) => [pkg.manifest.name as string, pkg] as const))("%s", (name, pkg) => {
  const entry = () => packed.get(name) as PackedPackage;

  it("has a build newer than its sources", () => {
    // A stale dist/ would be packed as is; `pnpm build` at the root refreshes it.
    expect(sourcesNewerThanBuild(pkg)).toEqual([]);
  });

  it("packs dist and package.json only", () => {
    const files = entry().files;
    expect(files).toContain("package.json");
    expect(files).toContain("dist/index.js");
    expect(files).toContain("dist/index.d.ts");
    expect(files.filter((file) => file.startsWith("src/"))).toEqual([]);
    expect(files.filter((file) => file.includes(".test."))).toEqual([]);
    expect(files.filter((file) => file.startsWith("dist/test/"))).toEqual([]);
    expect(listFiles(path.join(entry().extractedDir, "package"))).toEqual(files);
  });

  it("packs a publishable package.json", () => {
    const manifest = entry().manifest;
    expect(manifest.name).toBe(name);
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.description?.length ?? 0).toBeGreaterThan(0);
    expect(manifest.license?.length ?? 0).toBeGreaterThan(0);
    expect(manifest.private).not.toBe(true);
    expect(manifest.type).toBe("module");
    expect(manifest.engines?.node).toMatch(/^>=\d+/);
    expect(manifest.files?.length ?? 0).toBeGreaterThan(0);
    expect(JSON.stringify(manifest)).not.toContain("workspace:");
  });

  it("exports types first, pointing at packed files", () => {
    const root = (entry().manifest.exports as Record<string, Record<string, string>> | undefined)?.["."];
    expect(root).toBeTypeOf("object");
    expect(Object.keys(root ?? {})[0]).toBe("types");
    for (const target of Object.values(root ?? {})) expect(entry().files).toContain(target.replace(/^\.\//, ""));
  });

  it("declares every package its code imports", async () => {
    const manifest = entry().manifest;
    const declared = new Set([
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}),
      ...Object.keys(manifest.optionalDependencies ?? {}),
    ]);
    const undeclared = new Set<string>();
    for (const file of entry().files.filter((file) => file.endsWith(".js"))) {
      const source = await readFile(path.join(entry().extractedDir, "package", file), "utf8");
      for (const specifier of bareImports(source)) if (!declared.has(packageNameOf(specifier))) undeclared.add(`${specifier} (${file})`);
    }
    expect([...undeclared]).toEqual([]);
  });

  it("runs from its installed tarball", async () => {
    const [installed, workspace] = await Promise.all([runProbe(name, projectDir), runProbe(name, CHECK_DIR)]);

    // Each run resolved the package where it should: the consumer project, or packages/.
    expect(installed.resolved.startsWith(pathToFileURL(path.join(projectDir, "node_modules")).href)).toBe(true);
    expect(workspace.resolved).toBe(pathToFileURL(path.join(await realpath(pkg.dir), "dist", "index.js")).href);

    // Both copies export the same names and compute the same values.
    expect(installed.exportNames.length).toBeGreaterThan(0);
    expect(installed.exportNames).toEqual(workspace.exportNames);
    expect(installed.values).toEqual(workspace.values);
    VALUE_CHECKS[name]?.(installed.values as Record<string, unknown>);
  });
});
