import { mkdtemp, readFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./test/run-cli.js";
import { sharedPath } from "./test/shared.js";

describe("lcc generate", () => {
  let expected: string;
  let modelsDir: string;

  beforeAll(async () => {
    expected = await readFile(sharedPath("cases", "stories260K-greedy200.txt"), "utf8");
    modelsDir = sharedPath("models");
  });

  it("prints the reference greedy text for an empty prompt", async () => {
    const result = await runCli(["generate", "--model", "stories260K", "--prompt", "", "--max-tokens", "200"], { env: { LCC_MODELS: modelsDir } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(expected);
    expect(result.stderr).toMatch(/\[prefill: 1 tokens, [\d.]+ tokens\/s; decode: 200 tokens, [\d.]+ tokens\/s\]/);
  });

  it("converts the checkpoint into a folder that generates the same text", async () => {
    const output = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-convert-"));
    const converted = await runCli(["models", "convert", path.join(modelsDir, "stories260K"), "--output", output]);
    expect(converted.code).toBe(0);
    expect((await readdir(output)).sort()).toEqual(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    const result = await runCli(["generate", "--model", output, "--max-tokens", "200"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(expected);
  });

  it("samples reproducibly with a seed", async () => {
    const args = ["generate", "--model", path.join(modelsDir, "stories260K"), "--prompt", "Tom had a dog", "--max-tokens", "40", "--temperature", "0.9", "--top-p", "0.9"];
    const first = await runCli([...args, "--seed", "11"]);
    const second = await runCli([...args, "--seed", "11"]);
    const third = await runCli([...args, "--seed", "12"]);
    expect(first.code).toBe(0);
    expect(first.stdout.length).toBeGreaterThan(20);
    expect(second.stdout).toBe(first.stdout);
    expect(third.stdout).not.toBe(first.stdout);
  });

  it("reports a missing model with exit code 1", async () => {
    const result = await runCli(["generate", "--model", "no-such-model", "--prompt", "hi"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('lcc: ModelLoadError: model "no-such-model" was not found as a path');
  });

  it("reports a prompt longer than the context window", async () => {
    const prompt = "Once upon a time ".repeat(200);
    const result = await runCli(["generate", "--model", path.join(modelsDir, "stories260K"), "--prompt", prompt, "--max-tokens", "5"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/lcc: ContextLengthError: the sequence needs \d+ tokens .* context window is 512 tokens/);
  });

  it("rejects invalid options with exit code 2", async () => {
    const negative = await runCli(["generate", "--model", "x", "--max-tokens", "-3"]);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain('--max-tokens must be an integer from 0 to');
    const topP = await runCli(["generate", "--model", "x", "--top-p", "1.5"]);
    expect(topP.code).toBe(2);
    expect(topP.stderr).toContain('--top-p must be a number in (0, 1], got "1.5"');
    const missing = await runCli(["generate"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '-m, --model <path>' not specified");
  });

  it("explains every option in --help", async () => {
    const result = await runCli(["generate", "--help"]);
    expect(result.code).toBe(0);
    for (const option of ["--model", "--prompt", "--max-tokens", "--temperature", "--top-p", "--top-k", "--seed", "--threads"]) {
      expect(result.stdout).toContain(option);
    }
  });
});
