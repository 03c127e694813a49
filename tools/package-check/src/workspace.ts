/**
 * Helpers for the package check: finding the packages under packages/, running pnpm and
 * node as child processes, and reading what `pnpm pack` produced.
 */

import { execFile, execFileSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { isBuiltin } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const PACKAGES_DIR = path.join(REPO_ROOT, "packages");

/** The parts of a package.json the check reads. */
export interface Manifest {
  readonly name?: string;
  readonly version?: string;
  readonly description?: string;
  readonly license?: string;
  readonly private?: boolean;
  readonly type?: string;
  readonly packageManager?: string;
  readonly engines?: Readonly<Record<string, string>>;
  readonly exports?: unknown;
  readonly files?: readonly string[];
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
}

export interface WorkspacePackage {
  /** Folder name under packages/, e.g. "tensor". */
  readonly folder: string;
  readonly dir: string;
  readonly manifest: Manifest;
}

export function readManifest(file: string): Manifest {
  return JSON.parse(readFileSync(file, "utf8")) as Manifest;
}

/** Lists every folder under packages/ that contains a package.json, sorted by folder name. */
export function listWorkspacePackages(): WorkspacePackage[] {
  const packages: WorkspacePackage[] = [];
  for (const entry of readdirSync(PACKAGES_DIR, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(PACKAGES_DIR, entry.name);
    const manifestFile = path.join(dir, "package.json");
    if (!statSync(manifestFile, { throwIfNoEntry: false })?.isFile()) continue;
    packages.push({ folder: entry.name, dir, manifest: readManifest(manifestFile) });
  }
  return packages.sort((a, b) => a.folder.localeCompare(b.folder));
}

/** Lists the files under `dir` recursively, as paths relative to `dir` with "/" separators. */
export function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => statSync(path.join(dir, file)).isFile())
    .map((file) => file.split(path.sep).join("/"))
    .sort();
}

/**
 * Returns the source files of a package that are newer than its build output, so a test
 * can report a stale dist/ instead of packing it. Test files and src/test/ are skipped
 * because the build excludes them.
 */
export function sourcesNewerThanBuild(pkg: WorkspacePackage): string[] {
  const built = statSync(path.join(pkg.dir, "dist", "index.js"), { throwIfNoEntry: false });
  if (built === undefined) return ["dist/index.js is missing"];
  const sourceDir = path.join(pkg.dir, "src");
  return listFiles(sourceDir)
    .filter((file) => file.endsWith(".ts") && !file.includes(".test.") && !file.startsWith("test/"))
    .filter((file) => statSync(path.join(sourceDir, file)).mtimeMs > built.mtimeMs)
    .map((file) => `src/${file}`);
}

/**
 * Environment for child processes: the parent's environment without the npm_* variables
 * that a running pnpm or npm script sets, plus offline mode and no update check, so that
 * npx and pnpm do not use the network.
 */
export function childEnvironment(): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key.startsWith("PNPM_SCRIPT_")) continue;
    environment[key] = value;
  }
  environment.npm_config_offline = "true";
  environment.npm_config_update_notifier = "false";
  return environment;
}

/**
 * Returns the command that runs the workspace's pnpm, as [file, ...leading arguments].
 * When the tests run under a pnpm script of the version in the root packageManager field,
 * that pnpm (from $npm_execpath) is reused. Otherwise npx runs that version offline, so it
 * must already be in npx's cache, as `npx --yes pnpm@<version> install` leaves it.
 */
export function pnpmCommand(): string[] {
  const packageManager = readManifest(path.join(REPO_ROOT, "package.json")).packageManager ?? "";
  const match = /^pnpm@(\d+\.\d+\.\d+)/.exec(packageManager);
  if (match === null)
    throw new Error(`the root package.json must set packageManager to pnpm@<version>, found ${JSON.stringify(packageManager)}`);
  const version = match[1];

  const execPath = process.env.npm_execpath;
  if (execPath !== undefined && /^pnpm(\.c?js)?$/.test(path.basename(execPath))) {
    const command = /\.c?js$/.test(execPath) ? [process.execPath, execPath] : [execPath];
    const [file, ...leading] = command as [string, ...string[]];
    const running = execFileSync(file, [...leading, "--version"], { encoding: "utf8", env: childEnvironment() }).trim();
    if (running === version) return command;
  }
  return ["npx", "--yes", `pnpm@${version}`];
}

export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` in `cwd` and resolves with its output. A failure rejects with the command, exit code and output. */
export function runCommand(command: readonly string[], cwd: string, timeoutMs = 120_000): Promise<CommandOutput> {
  const [file, ...args] = command as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env: childEnvironment(), maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error !== null) {
        const exit = error.killed ? `was killed after ${timeoutMs} ms` : `failed with exit code ${String(error.code)}`;
        reject(new Error(`\`${command.join(" ")}\` in ${cwd} ${exit}\nstdout:\n${stdout}\nstderr:\n${stderr}`, { cause: error }));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

/**
 * Lists the bare module specifiers other than Node built-ins that a compiled ES module
 * imports: static `import` and `export ... from` statements and dynamic `import("...")`
 * calls with a string literal.
 * NOTE: this is a text scan tuned to tsc output; a specifier built at run time is missed.
 */
export function bareImports(source: string): string[] {
  const specifiers = new Set<string>();
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of source.matchAll(pattern)) {
      const specifier = match[1] as string;
      if (!specifier.startsWith(".") && !specifier.startsWith("/") && !isBuiltin(specifier)) specifiers.add(specifier);
    }
  }
  return [...specifiers].sort();
}

/** Returns the package name of a bare specifier: "@scope/name/sub" -> "@scope/name", "name/sub" -> "name". */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string);
}
