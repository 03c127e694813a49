/**
 * `pnpm bench`: runs every benchmark and prints Markdown for docs/benchmarks.md.
 * Models are read from $LCC_MODELS (for example ../shared/models).
 */

import { runCompileCostBenchmark } from "./compile-cost.js";
import { runFidelityBenchmark } from "./fidelity.js";
import { runForwardBenchmark } from "./foundation.js";
import { runGradientBenchmark } from "./gradient.js";
import { runServingBenchmark } from "./serving-cost.js";
import { runStorageBenchmark } from "./storage.js";
import { describeMachine } from "./machine.js";

const sections: [string, () => Promise<string>][] = [
  ["Forward pass (prefill and decode)", runForwardBenchmark],
  ["Gradient cost (forward and backward)", runGradientBenchmark],
  ["Compile cost", runCompileCostBenchmark],
  ["Compile fidelity (stories260K)", runFidelityBenchmark],
  ["Storage dtype of memories", runStorageBenchmark],
  ["Serving with a memory versus the full context", runServingBenchmark],
];

const only = process.argv[2];
process.stdout.write(`Machine: ${describeMachine()}\nDate: ${new Date().toISOString()}\n\n`);
for (const [title, run] of sections) {
  if (only !== undefined && !title.toLowerCase().includes(only.toLowerCase())) continue;
  process.stderr.write(`running: ${title}\n`);
  process.stdout.write(`## ${title}\n\n${await run()}\n\n`);
}
