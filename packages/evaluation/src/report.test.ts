import { describe, expect, it } from "vitest";
import { type PrefixScore, type StoryFidelity, summarise } from "./fidelity.js";
import { type FidelityReport, type QaReport, markdownCell, renderMarkdown, renderSummaryTable, summaryPlot } from "./report.js";
import { summariseQa } from "./suite.js";

function story(id: string, scores: Record<string, PrefixScore>): StoryFidelity {
  return { id, contextTokens: 160, continuationTokens: 100, bufferTokens: 10, compileSeconds: { "memory (KL reconstruction)": 2 }, scores };
}

const score = (continuationNll: number, gapClosed: number, reconstructionAccuracy: number): PrefixScore => ({
  continuationNll,
  gapClosed,
  reconstructionAccuracy,
});

/** Two stories at ratios 4 and 16; the numbers are chosen so that means are easy to check by hand. */
function fidelityReport(): FidelityReport {
  const prefixes = ["memory (KL reconstruction)", "last-k", "none", "full"];
  const atRatio = (ratio: number, memoryGap: number) => {
    const stories = [
      {
        ...story("s1", {
          "memory (KL reconstruction)": score(110, memoryGap, 0.5),
          "last-k": score(130, 0.5, 0.6),
          none: score(150, 0, 0.6),
          full: score(100, 1, 0.7),
        }),
        line: 1,
      },
      {
        ...story("s2", {
          "memory (KL reconstruction)": score(110, memoryGap + 0.2, 0.7),
          "last-k": score(130, 0.3, 0.6),
          none: score(150, 0, 0.6),
          full: score(100, 1, 0.7),
        }),
        line: 2,
      },
    ];
    return { ratio, stories, summary: summarise(stories) };
  };
  const ratios = [atRatio(4, 0.8), atRatio(16, 0.5)];
  return {
    format: "lcc-eval",
    version: 1,
    createdAt: "2026-01-02T03:04:05.000Z",
    model: { name: "stories260K", path: "/models/stories260K/stories260K.bin" },
    data: "stories.jsonl",
    kind: "stories",
    settings: {
      ratios: [4, 16],
      maxRecords: 2,
      queryPool: "story-openings",
      variants: { "memory (KL reconstruction)": { steps: 3, queries: 2, reconstructionLoss: "kl" } },
    },
    prefixes,
    ratios,
    skipped: [{ id: "s3", line: 3, reason: "the story has 600 tokens | too many" }],
    summary: {
      ratios: [4, 16],
      metrics: {
        gapClosed: Object.fromEntries(prefixes.map((p) => [p, ratios.map((r) => r.summary.mean[p]?.gapClosed ?? null)])),
      },
    },
  };
}

describe("renderSummaryTable", () => {
  it("shows the measure by prefix and ratio", () => {
    expect(renderSummaryTable(fidelityReport(), "gapClosed")).toBe(
      [
        "| prefix | 4× | 16× |",
        "| --- | --- | --- |",
        "| memory (KL reconstruction) | 0.900 | 0.600 |",
        "| last-k | 0.400 | 0.400 |",
        "| none | 0.000 | 0.000 |",
        "| full | 1.000 | 1.000 |",
      ].join("\n"),
    );
  });

  it("prints a dash for a missing value", () => {
    const report = fidelityReport();
    const withGap = {
      ...report,
      summary: { ratios: [4, 16], metrics: { gapClosed: { ...report.summary.metrics.gapClosed, "last-k": [null, 0.25] } } },
    };
    expect(renderSummaryTable(withGap, "gapClosed")).toContain("| last-k | – | 0.250 |");
  });
});

describe("renderMarkdown", () => {
  it("writes a table per ratio with gap closed, perplexity and reconstruction accuracy", () => {
    const markdown = renderMarkdown(fidelityReport());
    const lines = markdown.split("\n");
    expect(lines[0]).toBe("# lcc eval: stories260K on stories.jsonl");
    expect(markdown).toContain(
      "2 stories, ratios 4, 16, query pool story-openings. Memory variants: memory (KL reconstruction): steps 3, queries 2, reconstructionLoss kl.",
    );
    expect(markdown).toContain("## Gap closed against ratio\n\n| prefix | 4× | 16× |");

    // Ratio 4: perplexity is exp(total NLL / total tokens) = exp(220 / 200) for the memory.
    const ratio4 = markdown.slice(markdown.indexOf("## Ratio 4"), markdown.indexOf("## Ratio 16"));
    expect(ratio4).toContain(
      "2 stories, first half compiled (mean 160 tokens -> mean 10.0 memory tokens), second half read. Mean compile time per story: memory (KL reconstruction) 2.0 s.",
    );
    expect(ratio4).toContain("| prefix | gap closed | continuation perplexity | reconstruction accuracy |");
    expect(ratio4).toContain(`| memory (KL reconstruction) | 0.900 | ${Math.exp(1.1).toFixed(3)} | 0.600 |`);
    expect(ratio4).toContain(`| last-k | 0.400 | ${Math.exp(1.3).toFixed(3)} | 0.600 |`);
    expect(ratio4).toContain(`| none | 0.000 | ${Math.exp(1.5).toFixed(3)} | 0.600 |`);
    expect(ratio4).toContain(`| full | 1.000 | ${Math.exp(1).toFixed(3)} | 0.700 |`);
    expect(markdown.slice(markdown.indexOf("## Ratio 16"))).toContain("| memory (KL reconstruction) | 0.600 |");
  });

  it("lists skipped records with escaped cells", () => {
    const markdown = renderMarkdown(fidelityReport());
    expect(markdown).toContain("## Skipped records\n\n- s3 (line 3): the story has 600 tokens \\| too many\n");
  });

  it("writes question tables with answers and judge accuracy", () => {
    const answer = (text: string, exactMatch: number, f1: number, correct: boolean | null) => ({
      text,
      tokens: 3,
      exactMatch,
      f1,
      judge: { correct, reply: "x", attempts: 1 },
    });
    const records = [
      {
        id: "q1",
        line: 1,
        question: "What | colour?",
        goldAnswers: ["red", "a red ball"],
        contextTokens: 40,
        bufferTokens: 10,
        compileSeconds: { memory: 1 },
        predictions: { memory: answer("red", 1, 1, true), none: answer("blue", 0, 0, false), full: answer("a red\nball", 1, 1, true) },
      },
      {
        id: "q2",
        line: 2,
        question: "Who?",
        goldAnswers: ["Tom"],
        contextTokens: 60,
        bufferTokens: 15,
        compileSeconds: { memory: 1 },
        predictions: { memory: answer("Tom and Sam", 0, 0.5, null), none: answer("Sam", 0, 0, false), full: null },
      },
    ];
    const summary = summariseQa(records);
    expect(summary.memory).toEqual({ exactMatch: 0.5, f1: 0.75, judgeAccuracy: 1, answered: 2 });
    expect(summary.full).toEqual({ exactMatch: 1, f1: 1, judgeAccuracy: 1, answered: 1 });
    const report: QaReport = {
      format: "lcc-eval",
      version: 1,
      createdAt: "2026-01-02T03:04:05.000Z",
      model: { name: "m", path: "/m" },
      data: "qa.jsonl",
      kind: "qa",
      settings: {
        ratios: [8],
        maxRecords: null,
        queryPool: "instructions",
        variants: { memory: {} },
        maxAnswerTokens: 16,
        promptTemplate: "Q: {question}",
        judge: { endpoint: "http://127.0.0.1:1/v1/chat/completions", model: "j" },
      },
      prefixes: ["memory", "none", "full"],
      ratios: [{ ratio: 8, records, summary }],
      skipped: [],
      summary: { ratios: [8], metrics: { f1: { memory: [0.75], none: [0], full: [1] } } },
    };
    const markdown = renderMarkdown(report);
    expect(markdown).toContain(
      "## Token F1 against ratio\n\n| prefix | 8× |\n| --- | --- |\n| memory | 0.750 |\n| none | 0.000 |\n| full | 1.000 |",
    );
    expect(markdown).toContain("| prefix | exact match | token F1 | judge accuracy | answered |");
    expect(markdown).toContain("| memory | 0.500 | 0.750 | 1.000 | 2/2 |");
    expect(markdown).toContain("| none | 0.000 | 0.000 | 0.000 | 2/2 |");
    expect(markdown).toContain("| full | 1.000 | 1.000 | 1.000 | 1/2 |");
    expect(markdown).toContain("| q1 | What \\| colour? | red / a red ball | red | blue | a red ball |");
    expect(markdown).toContain("| q2 | Who? | Tom | Tom and Sam | Sam | (did not fit) |");
    expect(markdown).not.toContain("Skipped records");

    const plot = summaryPlot(report);
    expect(plot.yLabel).toBe("token F1");
    expect(plot.series.map((s) => [s.label, s.reference, s.emphasis])).toEqual([
      ["memory", false, true],
      ["none", true, false],
      ["full", true, false],
    ]);
  });
});

describe("markdownCell", () => {
  it("escapes pipes and joins lines", () => {
    expect(markdownCell("a|b\nc\r\nd")).toBe("a\\|b c d");
  });
});

describe("summaryPlot", () => {
  it("plots gap closed against ratio with one series per prefix", () => {
    const plot = summaryPlot(fidelityReport());
    expect(plot.title).toBe("Gap closed against compression ratio");
    expect(plot.yLabel).toBe("gap closed");
    expect(plot.x).toEqual([4, 16]);
    expect(plot.logX).toBe(true);
    expect(plot.series.map((s) => s.label)).toEqual(["memory (KL reconstruction)", "last-k", "none", "full"]);
    expect(plot.series[0]?.values[0]).toBeCloseTo(0.9, 12);
    expect(plot.series[0]?.values[1]).toBeCloseTo(0.6, 12);
  });
});
