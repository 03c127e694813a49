/**
 * The report of an evaluation run: its JSON shape (results.json), its Markdown rendering
 * (results.md) and the plot of the main measure against the ratio.
 */

import type { CompileOptions } from "@lcc/compiler";
import type { LinePlot } from "./plot.js";
import type { FidelitySuiteResult, QaSuiteResult, SummaryCurves } from "./suite.js";

/** Settings of a run, recorded so that it can be repeated. */
export interface ReportSettings {
  readonly ratios: readonly number[];
  /** The --stories limit, or null for every record. */
  readonly maxRecords: number | null;
  readonly queryPool: string;
  /** Compile options of each memory variant by label (steps, queries, seed, losses). */
  readonly variants: Readonly<Record<string, Partial<CompileOptions>>>;
  /** Question answering only. */
  readonly maxAnswerTokens?: number;
  readonly promptTemplate?: string;
  readonly judge?: { readonly endpoint: string; readonly model: string } | null;
}

export interface ReportHeader {
  readonly format: "lcc-eval";
  /** Version of this JSON layout; raised when a field changes meaning. */
  readonly version: 1;
  readonly createdAt: string;
  /** The --model argument and the path it resolved to. */
  readonly model: { readonly name: string; readonly path: string };
  readonly data: string;
  readonly settings: ReportSettings;
}

export type FidelityReport = ReportHeader & { readonly kind: "stories" } & FidelitySuiteResult;
export type QaReport = ReportHeader & { readonly kind: "qa" } & QaSuiteResult;
export type EvaluationReport = FidelityReport | QaReport;

/** Returns the measure that a report's summary table and plot show. */
export function headlineMetric(report: EvaluationReport): { key: string; name: string } {
  return report.kind === "stories" ? { key: "gapClosed", name: "gap closed" } : { key: "f1", name: "token F1" };
}

const fixed = (value: number | null | undefined, digits = 3) =>
  value === null || value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);

/** Escapes a Markdown table cell: pipes, and newlines as spaces. */
export function markdownCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Renders the headline measure as a table by prefix (rows) and ratio (columns). */
export function renderSummaryTable(
  report: { readonly prefixes: readonly string[]; readonly summary: SummaryCurves },
  metricKey: string,
): string {
  const curves = report.summary.metrics[metricKey] ?? {};
  const rows = report.prefixes.map((prefix) => [markdownCell(prefix), ...report.summary.ratios.map((_, i) => fixed(curves[prefix]?.[i]))]);
  return table(["prefix", ...report.summary.ratios.map((ratio) => `${ratio}×`)], rows);
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

function variantText(report: EvaluationReport): string {
  return Object.entries(report.settings.variants)
    .map(
      ([label, options]) =>
        `${label}: ${Object.entries(options)
          .map(([key, value]) => `${key} ${String(value)}`)
          .join(", ")}`,
    )
    .join("; ");
}

function skippedSection(report: EvaluationReport): string[] {
  if (report.skipped.length === 0) return [];
  return [
    "",
    "## Skipped records",
    "",
    ...report.skipped.map((entry) => `- ${markdownCell(entry.id)} (line ${entry.line}): ${markdownCell(entry.reason)}`),
  ];
}

/** Renders the whole report as Markdown: settings, the summary table, then one section per ratio. */
export function renderMarkdown(report: EvaluationReport): string {
  const metric = headlineMetric(report);
  const count = report.kind === "stories" ? (report.ratios[0]?.stories.length ?? 0) : (report.ratios[0]?.records.length ?? 0);
  const noun = report.kind === "stories" ? "stories" : "questions";
  const lines = [
    `# lcc eval: ${report.model.name} on ${report.data}`,
    "",
    `${count} ${noun}, ratios ${report.settings.ratios.join(", ")}, query pool ${report.settings.queryPool}. Memory variants: ${variantText(report)}. Created ${report.createdAt}.`,
    "",
    `## ${metric.name[0]?.toUpperCase()}${metric.name.slice(1)} against ratio`,
    "",
    renderSummaryTable(report, metric.key),
  ];
  if (report.kind === "stories") lines.push(...renderFidelityRatios(report));
  else lines.push(...renderQaRatios(report));
  lines.push(...skippedSection(report));
  return `${lines.join("\n")}\n`;
}

function renderFidelityRatios(report: FidelityReport): string[] {
  const lines: string[] = [];
  for (const entry of report.ratios) {
    const stories = entry.stories;
    const compile = Object.keys(report.settings.variants).map(
      (label) => `${label} ${mean(stories.map((story) => story.compileSeconds[label] ?? Number.NaN)).toFixed(1)} s`,
    );
    lines.push(
      "",
      `## Ratio ${entry.ratio}`,
      "",
      `${stories.length} stories, first half compiled (mean ${mean(stories.map((s) => s.contextTokens)).toFixed(0)} tokens -> mean ${mean(stories.map((s) => s.bufferTokens)).toFixed(1)} memory tokens), second half read. Mean compile time per story: ${compile.join(", ")}.`,
      "",
      table(
        ["prefix", "gap closed", "continuation perplexity", "reconstruction accuracy"],
        report.prefixes.map((prefix) => {
          const score = entry.summary.mean[prefix];
          return [markdownCell(prefix), fixed(score?.gapClosed), fixed(score?.perplexity), fixed(score?.reconstructionAccuracy)];
        }),
      ),
    );
  }
  return lines;
}

function renderQaRatios(report: QaReport): string[] {
  const lines: string[] = [];
  const hasJudge = report.settings.judge !== undefined && report.settings.judge !== null;
  for (const entry of report.ratios) {
    const header = ["prefix", "exact match", "token F1", ...(hasJudge ? ["judge accuracy"] : []), "answered"];
    lines.push(
      "",
      `## Ratio ${entry.ratio}`,
      "",
      `${entry.records.length} questions, mean context ${mean(entry.records.map((r) => r.contextTokens)).toFixed(0)} tokens -> mean ${mean(entry.records.map((r) => r.bufferTokens)).toFixed(1)} memory tokens.`,
      "",
      table(
        header,
        report.prefixes.map((prefix) => {
          const score = entry.summary[prefix];
          return [
            markdownCell(prefix),
            fixed(score?.exactMatch),
            fixed(score?.f1),
            ...(hasJudge ? [fixed(score?.judgeAccuracy)] : []),
            `${score?.answered ?? 0}/${entry.records.length}`,
          ];
        }),
      ),
      "",
      table(
        ["id", "question", "gold", ...report.prefixes],
        entry.records.map((record) => [
          markdownCell(record.id),
          markdownCell(record.question),
          markdownCell(record.goldAnswers.join(" / ")),
          ...report.prefixes.map((prefix) => {
            const prediction = record.predictions[prefix];
            return prediction === null || prediction === undefined ? "(did not fit)" : markdownCell(prediction.text);
          }),
        ]),
      ),
    );
  }
  return lines;
}

/** Builds the plot of the headline measure against the ratio, one line per prefix. */
export function summaryPlot(report: EvaluationReport): LinePlot {
  const metric = headlineMetric(report);
  const curves = report.summary.metrics[metric.key] ?? {};
  const variants = new Set(Object.keys(report.settings.variants));
  return {
    title: `${metric.name[0]?.toUpperCase()}${metric.name.slice(1)} against compression ratio`,
    xLabel: "compression ratio (context tokens per memory token)",
    yLabel: metric.name,
    x: report.summary.ratios,
    logX: true,
    yInclude: [0, 1],
    series: report.prefixes.map((prefix) => ({
      label: prefix,
      values: curves[prefix] ?? report.summary.ratios.map(() => null),
      reference: prefix === "none" || prefix === "full",
      emphasis: variants.has(prefix),
    })),
  };
}
