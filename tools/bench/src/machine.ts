/**
 * A description of the machine a benchmark ran on, printed beside its results.
 */

import os from "node:os";

export function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? "unknown CPU";
  const memory = (os.totalmem() / 2 ** 30).toFixed(1);
  return `${model}, ${cpus.length} logical cores, ${memory} GiB memory, ${os.platform()} ${os.release()}, Node ${process.version}`;
}
