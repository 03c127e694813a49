/**
 * Renders evaluation progress events as a progress line per ratio on stderr.
 */

import type { EvaluationProgress } from "@lcc/evaluation";
import { type ProgressLine, formatSeconds } from "../progress-bar.js";

/** Returns a progress handler that draws on `progress` for a run over `ratioCount` ratios. */
export function evaluationProgressHandler(progress: ProgressLine, ratioCount: number, quiet: boolean): (event: EvaluationProgress) => void {
  let finished = 0;
  let seconds = 0;
  let recordsPerRatio = 0;
  const eta = () => (finished === 0 ? "" : ` ETA ${formatSeconds((seconds / finished) * (recordsPerRatio * ratioCount - finished))}`);

  return (event) => {
    if ("total" in event) recordsPerRatio = event.total;
    const label = "ratio" in event ? `ratio ${event.ratio}` : "";
    switch (event.type) {
      case "skipped":
        if (quiet) return;
        progress.finish();
        process.stderr.write(`skipped ${event.id} (line ${event.line}): ${event.reason}\n`);
        return;
      case "record":
        progress.update(label, event.index, event.total, `${event.id}: starting${eta()}`);
        return;
      case "compile": {
        const compile = event.event;
        if (compile.type === "teacher")
          progress.update(label, event.index, event.total, `${event.id} ${event.label}: teacher ${compile.done}/${compile.total}${eta()}`);
        if (compile.type === "step") {
          progress.update(
            label,
            event.index,
            event.total,
            `${event.id} ${event.label}: step ${compile.step}/${compile.steps} loss ${compile.loss.toFixed(4)}${eta()}`,
          );
        }
        return;
      }
      case "record-done":
        finished += 1;
        seconds += event.seconds;
        progress.update(label, event.index + 1, event.total, `${event.id} done in ${event.seconds.toFixed(1)}s${eta()}`);
        if (event.index + 1 === event.total) progress.finish();
        return;
    }
  };
}
