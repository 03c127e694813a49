import { existsSync } from "node:fs";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { decodeMemory, writeMemoryFile } from "@lcc/artifact";
import { builtInQueryPool, compileContext, toMemoryArtifact } from "@lcc/compiler";
import { loadModel, modelHashes } from "@lcc/models";
import { Engine } from "@lcc/serving";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./test/run-cli.js";
import { sharedPath } from "./test/shared.js";

const STORY =
  "Lily and her dog Max went to the big green park. Max found a red ball under a tree. Lily threw the ball and Max ran fast to get it. Then they saw a small bird with blue wings. The bird sang a happy song.";

let folder: string;
let storyFile: string;
let modelPath: string;
/** The parts of `lcc inspect --json` these tests read. */
interface InspectJson {
  model: { name: string };
  compression: { ratio: number; bufferTokens: number; sourceTokens: number; segments: unknown[] };
  storage: { dtype: string };
  provenance: { steps: number; options: Record<string, unknown> };
  sourceTextIncluded: boolean;
}

const FAST = ["--steps", "3", "--queries", "2", "--threads", "1"];

beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-compile-"));
  storyFile = path.join(folder, "story.txt");
  await writeFile(storyFile, STORY);
  modelPath = sharedPath("models", "stories260K");
});

describe("lcc compile, inspect and ask", () => {
  it("compiles a text into a memory that inspect describes", async () => {
    const output = path.join(folder, "story.lccm");
    const compiled = await runCli(["compile", "--model", modelPath, storyFile, "-o", output, "--ratio", "8", ...FAST]);
    expect(compiled.code).toBe(0);
    expect(compiled.stderr).toMatch(/wrote .*story\.lccm: \d+ context tokens -> \d+ memory tokens \(1 segment\)/);
    const inspected = await runCli(["inspect", output, "--json"]);
    expect(inspected.code).toBe(0);
    const metadata = JSON.parse(inspected.stdout) as InspectJson;
    expect(metadata.model.name).toBe("stories260K");
    expect(metadata.compression.ratio).toBe(8);
    expect(metadata.compression.bufferTokens).toBe(Math.ceil(metadata.compression.sourceTokens / 8));
    expect(metadata.storage.dtype).toBe("float16");
    expect(metadata.provenance.steps).toBe(3);
    expect(metadata.provenance.options.queryPool).toBe("story-openings");
    expect(metadata.sourceTextIncluded).toBe(false);
    const human = await runCli(["inspect", output]);
    expect(human.stdout).toMatch(/compression: {2}\d+ context tokens -> \d+ memory tokens \(ratio 8, 1 segment\)/);
  });

  it("ask prints the tokens of an in-process compile and generate with the same seed", async () => {
    const output = path.join(folder, "exact.lccm");
    const args = ["--steps", "4", "--queries", "3", "--seed", "5", "--dtype", "float32", "--threads", "1"];
    expect((await runCli(["compile", "--model", modelPath, storyFile, "-o", output, ...args])).code).toBe(0);
    const asked = await runCli(["ask", output, "Max found a", "--model", modelPath, "--max-tokens", "16", "--temperature", "0.8", "--seed", "9"]);
    expect(asked.code).toBe(0);

    // The same compile and generation in this process.
    const resolved = await loadModel(modelPath);
    const pool = builtInQueryPool("story-openings").map((text) => resolved.tokenizer.encode(text, { addBos: false }));
    const compiled = await compileContext({
      model: resolved.model,
      contextIds: resolved.tokenizer.encode(STORY, { addBos: false }),
      queryPool: pool,
      options: { steps: 4, queries: 3, seed: 5, threads: 1 },
    });
    const memory = toMemoryArtifact(compiled, { fingerprint: modelHashes(resolved.model, resolved.tokenizer), sourceText: STORY, producerVersion: "test" });
    const engine = await Engine.create(resolved);
    const id = await engine.addMemory(memory);
    const summary = await engine.generate({ prompt: "Max found a", memories: [id], maxTokens: 16, temperature: 0.8, seed: 9 }).collect();
    await engine.close();
    expect(summary.text.length).toBeGreaterThan(0);
    expect(asked.stdout).toBe(`${summary.text}\n`);
  });

  it("finds the model from the memory's fingerprint in LCC_MODELS", async () => {
    const output = path.join(folder, "story.lccm");
    const asked = await runCli(["ask", output, "Lily threw the", "--max-tokens", "4"], { env: { LCC_MODELS: sharedPath("models") } });
    expect(asked.code).toBe(0);
    expect(asked.stdout.trim().length).toBeGreaterThan(0);
    const missing = await runCli(["ask", output, "Lily threw the"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no model in the download cache (LCC_MODELS is not set) matches the memory's model stories260K");
  });

  it("chat reports a bad prompt and reads the next one", async () => {
    const output = path.join(folder, "story.lccm");
    const tooLong = "Lily ".repeat(600);
    const chat = await runCli(["chat", output, "--model", modelPath, "--max-tokens", "3"], { input: `${tooLong}\nMax found a\n` });
    expect(chat.code).toBe(0);
    expect(chat.stderr).toContain("lcc: ContextLengthError:");
    expect(chat.stderr).toMatch(/\[3 tokens, finish: length/);
  });

  it("inspect escapes control characters from the file", async () => {
    const resolved = await loadModel(modelPath);
    const compiled = await compileContext({
      model: resolved.model,
      contextIds: resolved.tokenizer.encode(STORY, { addBos: false }),
      queryPool: builtInQueryPool("story-openings").map((text) => resolved.tokenizer.encode(text, { addBos: false })),
      options: { steps: 1, queries: 1 },
    });
    const fingerprint = { ...modelHashes(resolved.model, resolved.tokenizer), name: "evil\u001b[2Jname" };
    const forged = path.join(folder, "forged.lccm");
    await writeMemoryFile(forged, toMemoryArtifact(compiled, { fingerprint, sourceText: STORY, producerVersion: "test" }), { dtype: "float16" });
    const inspected = await runCli(["inspect", forged]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain("evil\\u{1b}[2Jname");
    expect(inspected.stdout).not.toContain("\u001b");
  });

  it("chat reads two memories for every line of input", async () => {
    const output = path.join(folder, "story.lccm");
    const chat = await runCli(["chat", output, output, "--model", modelPath, "--max-tokens", "3"], { input: "Max found a\nLily threw the\n" });
    expect(chat.code).toBe(0);
    expect(chat.stdout.trim().split("\n")).toHaveLength(2);
    expect(chat.stderr.match(/\[3 tokens, finish: length/g)).toHaveLength(2);
  });
});

describe("lcc compile input checks", () => {
  it("reports a missing input file without a stack trace", async () => {
    const result = await runCli(["compile", "--model", modelPath, path.join(folder, "nope.txt"), "-o", path.join(folder, "nope.lccm")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^lcc: ENOENT: no such file or directory, open '.*nope\.txt'\n$/);
  });

  it("rejects an input that is not UTF-8", async () => {
    const utf16 = path.join(folder, "utf16.txt");
    await writeFile(utf16, Buffer.from(`\ufeff${STORY}`, "utf16le"));
    const result = await runCli(["compile", "--model", modelPath, utf16, "-o", path.join(folder, "utf16.lccm"), ...FAST]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("FileFormatError: ");
    expect(result.stderr).toContain("utf16.txt is not valid UTF-8 text");
  });

  it("checks the output path before compiling", async () => {
    const missingFolder = await runCli(["compile", "--model", modelPath, storyFile, "-o", path.join(folder, "no", "such", "out.lccm")]);
    expect(missingFolder.code).toBe(2);
    expect(missingFolder.stderr).toMatch(/--output .*out\.lccm: the folder .*such does not exist; create it first/);
    const dash = await runCli(["compile", "--model", modelPath, storyFile, "-o", "-"]);
    expect(dash.code).toBe(2);
    expect(dash.stderr).toContain("--output - is not supported; give a file path");
    const isFolder = await runCli(["compile", "--model", modelPath, storyFile, "-o", folder]);
    expect(isFolder.code).toBe(2);
    expect(isFolder.stderr).toContain("is a folder; give a file path");
  });

  it("rejects duplicate LoRA targets", async () => {
    const result = await runCli(["compile", "--model", modelPath, storyFile, "-o", path.join(folder, "dup.lccm"), "--lora-targets", "q,v,q", ...FAST]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("loraTargets lists q more than once; give each projection once");
  });

  it("rejects a memory that cannot fit the window", async () => {
    const long = path.join(folder, "long-ratio.txt");
    await writeFile(long, Array.from({ length: 8 }, () => STORY).join(" "));
    const result = await runCli(["compile", "--model", modelPath, long, "-o", path.join(folder, "wide.lccm"), "--ratio", "1", ...FAST]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/CompileInputError: the memory would end at position \d+, leaving no room for a prompt in stories260K's 512-position window/);
  });

  it("rejects an empty text and writes nothing", async () => {
    const empty = path.join(folder, "empty.txt");
    await writeFile(empty, "   \n");
    const output = path.join(folder, "empty.lccm");
    const result = await runCli(["compile", "--model", modelPath, empty, "-o", output, ...FAST]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("CompileInputError");
    expect(result.stderr).toContain("is empty; give a text to compile");
    expect(existsSync(output)).toBe(false);
  });

  it("rejects a text shorter than the ratio", async () => {
    const short = path.join(folder, "short.txt");
    await writeFile(short, "Hi.");
    const result = await runCli(["compile", "--model", modelPath, short, "-o", path.join(folder, "short.lccm"), ...FAST]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the context has \d+ tokens, fewer than the compression ratio 16; use a longer text or a lower --ratio/);
  });

  it("rejects a ratio below 1 or not a number", async () => {
    for (const ratio of ["0.5", "abc", "-2"]) {
      const result = await runCli(["compile", "--model", modelPath, storyFile, "-o", path.join(folder, "bad.lccm"), "--ratio", ratio]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--ratio must be a number from 1 to 1000000, got "${ratio}"`);
    }
  });

  it("stops on a non-finite loss and writes nothing", async () => {
    const output = path.join(folder, "nan.lccm");
    const result = await runCli([
      "compile",
      "--model",
      modelPath,
      storyFile,
      "-o",
      output,
      "--steps",
      "40",
      "--queries",
      "1",
      "--learning-rate",
      "1e30",
      "--clip-norm",
      "0",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("CompileDivergedError: the loss became");
    expect(result.stderr).toContain("nothing was written");
    expect(existsSync(output)).toBe(false);
    expect((await readdir(folder)).filter((name) => name.startsWith("nan.lccm"))).toEqual([]);
  });

  it("segments a context longer than the model window", async () => {
    const long = path.join(folder, "long.txt");
    await writeFile(long, `${STORY} ${STORY} ${STORY} ${STORY} ${STORY} ${STORY}`);
    const output = path.join(folder, "long.lccm");
    const result = await runCli(["compile", "--model", modelPath, long, "-o", output, "--steps", "1", "--queries", "1", "--threads", "1"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/\((\d+) segments\)/);
    const inspected = JSON.parse((await runCli(["inspect", output, "--json"])).stdout) as InspectJson;
    expect(inspected.compression.segments.length).toBeGreaterThan(1);
    expect(decodeMemory).toBeTypeOf("function");
  });
});
