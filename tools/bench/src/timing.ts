/**
 * Timing helpers: warm-up runs, then the median of several timed runs.
 */

export async function medianMs(run: () => Promise<unknown>, options: { warmup?: number; repeats?: number } = {}): Promise<number> {
  for (let i = 0; i < (options.warmup ?? 1); i++) await run();
  const times: number[] = [];
  for (let i = 0; i < (options.repeats ?? 5); i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

export function formatRate(value: number, unit: string): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)} G${unit}`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M${unit}`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)} k${unit}`;
  return `${value.toFixed(1)} ${unit}`;
}
