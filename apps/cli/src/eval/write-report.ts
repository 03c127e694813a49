/**
 * Writes an evaluation report into a folder: results.json, results.md, fidelity.svg and
 * fidelity.png.
 */

import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { type EvaluationReport, renderMarkdown, renderPlotPng, renderPlotSvg, summaryPlot } from "@lcc/evaluation";

export const REPORT_FILES = ["results.json", "results.md", "fidelity.svg", "fidelity.png"] as const;

/** Writes `file` through a temporary name, so a reader never sees half a file. */
async function writeAtomically(file: string, contents: string | Uint8Array): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, file);
}

/** Writes every report file into `folder` (created when missing) and returns their paths. */
export async function writeReportFiles(folder: string, report: EvaluationReport): Promise<string[]> {
  await mkdir(folder, { recursive: true });
  const plot = summaryPlot(report);
  const contents: Record<(typeof REPORT_FILES)[number], string | Uint8Array> = {
    "results.json": `${JSON.stringify(report, null, 2)}\n`,
    "results.md": renderMarkdown(report),
    "fidelity.svg": renderPlotSvg(plot),
    "fidelity.png": renderPlotPng(plot),
  };
  const written: string[] = [];
  for (const name of REPORT_FILES) {
    const file = path.join(folder, name);
    await writeAtomically(file, contents[name]);
    written.push(file);
  }
  return written;
}
