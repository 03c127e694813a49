import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { scoreAnswer } from "@lcc/evaluation";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./test/run-cli.js";
import { sharedPath } from "./test/shared.js";

const PREFIXES = ["memory (KL reconstruction)", "last-k", "every-r", "surprisal", "mean-pooled", "none", "full"];

describe("lcc eval", () => {
  let modelsDir: string;
  let stories: string[];

  beforeAll(async () => {
    modelsDir = sharedPath("models");
    stories = (await readFile(sharedPath("data", "tinystories", "stories.jsonl"), "utf8")).trim().split("\n");
  });

  it("writes every report file for 2 stories at 2 ratios", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-eval-"));
    // Story 58 does not fit stories260K's 512-token window beside its memory, so it is skipped.
    const data = path.join(folder, "stories.jsonl");
    await writeFile(data, [stories[57], stories[0], stories[1], stories[2]].join("\n"));
    const out = path.join(folder, "report");
    const result = await runCli(
      [
        "eval",
        "--model",
        "stories260K",
        "--data",
        data,
        "--ratios",
        "4,16",
        "--stories",
        "2",
        "--steps",
        "3",
        "--queries",
        "2",
        "--seed",
        "1",
        "--out",
        out,
      ],
      {
        env: { LCC_MODELS: modelsDir },
      },
    );
    expect(result.stderr).toContain("skipped ts-0058 (line 1): the story has");
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/ratio 4 \[#+\] 2\/2 ts-0002 done in [\d.]+s/);
    expect(result.stderr).toContain(`wrote ${path.relative(process.cwd(), path.join(out, "results.json"))}`);

    // results.json: settings, one entry per ratio with both stories, finite scores for every prefix.
    const report = JSON.parse(await readFile(path.join(out, "results.json"), "utf8"));
    expect(Object.keys(report)).toEqual([
      "format",
      "version",
      "createdAt",
      "model",
      "data",
      "kind",
      "settings",
      "prefixes",
      "ratios",
      "skipped",
      "summary",
    ]);
    expect([report.format, report.version, report.kind, report.data]).toEqual(["lcc-eval", 1, "stories", data]);
    expect(report.settings).toEqual({
      ratios: [4, 16],
      maxRecords: 2,
      queryPool: "story-openings",
      variants: { "memory (KL reconstruction)": { steps: 3, queries: 2, seed: 1, threads: 0, reconstructionLoss: "kl" } },
    });
    expect(report.prefixes).toEqual(PREFIXES);
    expect(report.skipped).toEqual([
      { id: "ts-0058", line: 1, reason: expect.stringMatching(/needs \d+ positions, more than the model's window of 512$/) },
    ]);
    expect(report.ratios.map((entry: { ratio: number }) => entry.ratio)).toEqual([4, 16]);
    for (const entry of report.ratios) {
      expect(entry.stories.map((story: { id: string; line: number }) => [story.id, story.line])).toEqual([
        ["ts-0001", 2],
        ["ts-0002", 3],
      ]);
      for (const story of entry.stories) {
        expect(story.bufferTokens).toBe(Math.ceil((story.contextTokens - 1) / entry.ratio));
        expect(Object.keys(story.scores).sort()).toEqual([...PREFIXES].sort());
        for (const prefix of PREFIXES) {
          for (const key of ["continuationNll", "gapClosed", "reconstructionAccuracy"])
            expect(Number.isFinite(story.scores[prefix][key]), `${prefix} ${key}`).toBe(true);
        }
        expect(story.scores.full.gapClosed).toBe(1);
        expect(story.scores.none.gapClosed).toBe(0);
        expect(story.scores.full.continuationNll).toBeLessThan(story.scores.none.continuationNll);
      }
      expect(Object.keys(entry.summary.mean)).toEqual(expect.arrayContaining(PREFIXES));
    }

    // The summary curves are the means over stories.
    expect(report.summary.ratios).toEqual([4, 16]);
    expect(Object.keys(report.summary.metrics)).toEqual(["gapClosed", "perplexity", "reconstructionAccuracy"]);
    for (const prefix of PREFIXES) {
      report.ratios.forEach((entry: { stories: { scores: Record<string, { gapClosed: number }> }[] }, i: number) => {
        const mean = entry.stories.reduce((sum, story) => sum + (story.scores[prefix]?.gapClosed as number), 0) / entry.stories.length;
        expect(report.summary.metrics.gapClosed[prefix][i]).toBeCloseTo(mean, 12);
        expect(Number.isFinite(report.summary.metrics.perplexity[prefix][i])).toBe(true);
      });
    }

    // results.md contains the stdout table and a table per ratio.
    const markdown = await readFile(path.join(out, "results.md"), "utf8");
    expect(result.stdout.split("\n")[0]).toBe("| prefix | 4× | 16× |");
    expect(result.stdout.trim().split("\n")).toHaveLength(2 + PREFIXES.length);
    expect(markdown).toContain(result.stdout.trim());
    expect(markdown).toContain("## Ratio 4\n");
    expect(markdown).toContain("## Ratio 16\n");
    expect(markdown).toContain("| prefix | gap closed | continuation perplexity | reconstruction accuracy |");
    expect(markdown).toContain("- ts-0058 (line 1): the story has");

    // The plot: one polyline per prefix in the SVG, a 1600 × 880 RGB PNG.
    const svg = await readFile(path.join(out, "fidelity.svg"), "utf8");
    expect([...svg.matchAll(/<polyline data-prefix="([^"]*)"/g)].map((m) => m[1])).toEqual(PREFIXES);
    const png = await readFile(path.join(out, "fidelity.png"));
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.toString("latin1", 12, 16)).toBe("IHDR");
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1600, 880]);
  });

  it("scores questions and asks the judge on loopback", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-eval-qa-"));
    const data = path.join(folder, "qa.jsonl");
    const record = {
      id: "kite",
      context: "Tom had a red kite. He flew it in the park with his dad. The wind was strong and the kite went very high.",
      question: "What colour was the kite?",
      answer: ["red", "a red kite"],
    };
    await writeFile(data, `${JSON.stringify(record)}\n`);
    const key = "sk-test-5f1c9e07";
    const judge = await startJudge();
    try {
      const out = path.join(folder, "report");
      const result = await runCli(
        [
          "eval",
          "-m",
          "stories260K",
          "-d",
          data,
          "--ratios",
          "4",
          "--steps",
          "1",
          "--queries",
          "1",
          "--query-pool",
          "story-openings",
          "--max-answer-tokens",
          "6",
          "-o",
          out,
          "--judge-url",
          judge.baseUrl,
          "--judge-model",
          "test-judge",
          "--judge-key-env",
          "LCC_TEST_JUDGE_KEY",
        ],
        { env: { LCC_MODELS: modelsDir, LCC_TEST_JUDGE_KEY: key } },
      );
      expect(result.stderr).not.toContain(key);
      expect(result.code).toBe(0);

      // Three answers (memory, none, full), each graded once with the key as a bearer token.
      expect(judge.requests).toHaveLength(3);
      for (const request of judge.requests) {
        expect(request.url).toBe("/v1/chat/completions");
        expect(request.headers.authorization).toBe(`Bearer ${key}`);
        expect(JSON.parse(request.body).model).toBe("test-judge");
      }

      const text = await readFile(path.join(out, "results.json"), "utf8");
      expect(text).not.toContain(key);
      const report = JSON.parse(text);
      expect(report.kind).toBe("qa");
      expect(report.prefixes).toEqual(["memory (KL reconstruction)", "none", "full"]);
      expect(report.settings.judge).toEqual({ endpoint: `${judge.baseUrl}/chat/completions`, model: "test-judge" });
      expect(report.settings.maxAnswerTokens).toBe(6);
      const entry = report.ratios[0].records[0];
      expect([entry.id, entry.line, entry.goldAnswers]).toEqual(["kite", 1, ["red", "a red kite"]]);
      for (const prefix of report.prefixes) {
        const prediction = entry.predictions[prefix];
        expect(typeof prediction.text).toBe("string");
        expect(prediction.tokens).toBeLessThanOrEqual(6);
        expect({ exactMatch: prediction.exactMatch, f1: prediction.f1 }).toEqual(scoreAnswer(prediction.text, record.answer));
        expect(prediction.judge).toEqual({ correct: true, reply: "CORRECT", attempts: 1 });
      }
      expect(report.ratios[0].summary["memory (KL reconstruction)"].judgeAccuracy).toBe(1);
      expect(result.stdout.split("\n")[0]).toBe("| prefix | 4× |");
      const markdown = await readFile(path.join(out, "results.md"), "utf8");
      expect(markdown).toContain("| prefix | exact match | token F1 | judge accuracy | answered |");
      expect(markdown).toContain("| kite | What colour was the kite? | red / a red kite |");
      const svg = await readFile(path.join(out, "fidelity.svg"), "utf8");
      expect(svg.match(/<polyline /g)).toHaveLength(3);
    } finally {
      await judge.close();
    }
  });

  it("reports invalid data lines with exit code 1", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-eval-bad-"));
    const data = path.join(folder, "bad.jsonl");
    await writeFile(data, '{"context": "C", "question": "Q", "answer": "A"}\n{"context": "C", "question": "Q"}\n{"text": "a story"}\n');
    const result = await runCli(["eval", "--model", "stories260K", "--data", data]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`lcc: FileFormatError: invalid evaluation data in ${data} (2 invalid lines)`);
    expect(result.stderr).toContain(
      'line 2: question record: "answer" must be a non-empty string or a non-empty array of non-empty strings, got nothing',
    );
    expect(result.stderr).toContain("line 3: a story record in a file of question records");
  });

  it("rejects invalid options with exit code 2", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "lcc-cli-eval-usage-"));
    const storiesFile = path.join(folder, "stories.jsonl");
    await writeFile(storiesFile, `${stories[0]}\n`);
    const qaFile = path.join(folder, "qa.jsonl");
    await writeFile(qaFile, '{"context": "C", "question": "Q", "answer": "A"}\n');

    const ratios = await runCli(["eval", "--model", "m", "--data", storiesFile, "--ratios", "4,0.5,x"]);
    expect(ratios.code).toBe(2);
    expect(ratios.stderr).toContain(
      '--ratios must be a comma-separated list of numbers ≥ 1 such as 4,8,16,32; invalid entries: "0.5", "x".',
    );
    const repeated = await runCli(["eval", "--model", "m", "--data", storiesFile, "--ratios", "4,4"]);
    expect(repeated.code).toBe(2);
    expect(repeated.stderr).toContain('--ratios lists a ratio twice: "4,4".');

    const judgeOnStories = await runCli([
      "eval",
      "--model",
      "m",
      "--data",
      storiesFile,
      "--judge-url",
      "http://127.0.0.1:9/v1",
      "--judge-model",
      "j",
    ]);
    expect(judgeOnStories.code).toBe(2);
    expect(judgeOnStories.stderr).toContain(
      `lcc: the judge grades answers to questions, but ${storiesFile} contains stories; drop the --judge-* options`,
    );
    const halfJudge = await runCli(["eval", "--model", "m", "--data", qaFile, "--judge-url", "http://127.0.0.1:9/v1"]);
    expect(halfJudge.code).toBe(2);
    expect(halfJudge.stderr).toContain("lcc: the judge needs both --judge-url and --judge-model");
    const missingKey = await runCli([
      "eval",
      "--model",
      "m",
      "--data",
      qaFile,
      "--judge-url",
      "http://127.0.0.1:9/v1",
      "--judge-model",
      "j",
      "--judge-key-env",
      "LCC_TEST_UNSET_KEY",
    ]);
    expect(missingKey.code).toBe(2);
    expect(missingKey.stderr).toContain("lcc: the environment variable LCC_TEST_UNSET_KEY named by --judge-key-env is not set");
    const prompt = await runCli(["eval", "--model", "m", "--data", qaFile, "--qa-prompt", "Answer:"]);
    expect(prompt.code).toBe(2);
    expect(prompt.stderr).toContain('lcc: --qa-prompt must contain "{question}", got "Answer:"');
  });

  it("explains every option in --help", async () => {
    const result = await runCli(["eval", "--help"]);
    expect(result.code).toBe(0);
    for (const option of [
      "--model",
      "--data",
      "--ratios",
      "--stories",
      "--steps",
      "--queries",
      "--query-pool",
      "--out",
      "--seed",
      "--also-ce",
      "--max-answer-tokens",
      "--qa-prompt",
      "--judge-url",
      "--judge-model",
      "--judge-key-env",
      "--threads",
      "--quiet",
    ]) {
      expect(result.stdout).toContain(option);
    }
  });
});

interface JudgeServer {
  readonly baseUrl: string;
  readonly requests: { url: string; headers: IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** An OpenAI-compatible chat completions server on 127.0.0.1 that grades every answer CORRECT. */
async function startJudge(): Promise<JudgeServer> {
  const requests: JudgeServer["requests"] = [];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      requests.push({ url: request.url ?? "", headers: request.headers, body });
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "CORRECT" } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
