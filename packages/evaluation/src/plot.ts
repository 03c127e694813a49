/**
 * Line plots of a measure against the compression ratio: one layout, drawn as SVG here
 * and as PNG by raster.ts, so the two files show the same picture.
 */

import { InvalidArgumentError } from "@lcc/tensor";

export interface PlotSeries {
  readonly label: string;
  /** One value per x; null or non-finite values leave a gap in the markers and are skipped by the line. */
  readonly values: readonly (number | null)[];
  /** Reference lines (no context, full context) are drawn dashed and grey. */
  readonly reference?: boolean;
  /** Drawn thicker (the memory variants). */
  readonly emphasis?: boolean;
}

export interface LinePlot {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly x: readonly number[];
  /** Place x on a log2 scale (ratios 4, 8, 16, 32 equally spaced). */
  readonly logX?: boolean;
  /** Values the y range always covers, e.g. [0, 1] for the gap closed. */
  readonly yInclude?: readonly number[];
  readonly series: readonly PlotSeries[];
}

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface SeriesLayout {
  readonly label: string;
  readonly color: string;
  readonly lineWidth: number;
  /** Dash and gap lengths, or null for a solid line. */
  readonly dash: readonly [number, number] | null;
  readonly points: readonly Point[];
}

export interface Tick {
  /** Pixel coordinate along the axis. */
  readonly position: number;
  readonly label: string;
}

/** Everything a renderer draws, in pixels of a width × height canvas (y down). */
export interface PlotLayout {
  readonly width: number;
  readonly height: number;
  readonly area: { readonly left: number; readonly top: number; readonly right: number; readonly bottom: number };
  readonly title: Point & { readonly text: string };
  readonly xLabel: Point & { readonly text: string };
  /** Drawn rotated by -90° around its point (reading upwards). */
  readonly yLabel: Point & { readonly text: string };
  readonly xTicks: readonly Tick[];
  readonly yTicks: readonly Tick[];
  readonly series: readonly SeriesLayout[];
  /** One row per series: the line sample starts at x, the text at x + 30; y is the row's middle. */
  readonly legend: readonly (Point & { readonly series: number })[];
  readonly markerRadius: number;
}

export const PLOT_STYLE = Object.freeze({
  width: 800,
  height: 440,
  background: "#ffffff",
  text: "#212529",
  grid: "#e9ecef",
  axis: "#495057",
  fontFamily: "DejaVu Sans, Helvetica, Arial, sans-serif",
  titleSize: 15,
  labelSize: 12,
  tickSize: 11,
});

/** Line colours of non-reference series, in order. */
const PALETTE = ["#1c5fbf", "#e8590c", "#2b8a3e", "#ae3ec9", "#0b7285", "#c92a2a", "#e67700", "#5c940d", "#862e9c", "#364fc7"];
const REFERENCE_COLORS = ["#868e96", "#212529"];

/** Returns the smallest step of 1, 2, 2.5 or 5 times a power of ten that is at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 2.5, 5, 10]) if (factor * power >= raw * (1 - 1e-9)) return factor * power;
  return 10 * power;
}

/** Formats a tick with the decimals its step needs: step 0.25 -> "0.75", step 0.2 -> "0.6", step 5 -> "15". */
function formatTick(value: number, step: number): string {
  const exponent = Math.floor(Math.log10(step) + 1e-9);
  const mantissa = step / 10 ** exponent;
  const decimals = Math.max(0, -exponent + (Math.abs(mantissa - 2.5) < 1e-6 ? 1 : 0));
  const text = value.toFixed(decimals);
  return text === `-${(0).toFixed(decimals)}` ? (0).toFixed(decimals) : text;
}

/** Computes positions of every element of `plot`. */
export function layoutPlot(plot: LinePlot): PlotLayout {
  if (plot.x.length === 0) throw new InvalidArgumentError("a plot needs at least one x value");
  for (const series of plot.series) {
    if (series.values.length !== plot.x.length) {
      throw new InvalidArgumentError(
        `series "${series.label}" has ${series.values.length} values but the plot has ${plot.x.length} x values`,
      );
    }
  }
  if (plot.logX === true && plot.x.some((x) => !(x > 0))) throw new InvalidArgumentError("a log-scale x axis needs x values > 0");

  const { width, height } = PLOT_STYLE;
  const area = { left: 72, top: 44, right: 500, bottom: 380 };

  // y range: every finite value and the included ones, widened to whole ticks.
  const values = [...plot.series.flatMap((series) => series.values), ...(plot.yInclude ?? [])].filter(
    (v): v is number => typeof v === "number" && Number.isFinite(v),
  );
  let low = values.length > 0 ? Math.min(...values) : 0;
  let high = values.length > 0 ? Math.max(...values) : 1;
  if (high - low < 1e-12) {
    low -= 0.5;
    high += 0.5;
  }
  const step = niceStep((high - low) / 5);
  const yLow = Math.floor(low / step + 1e-9) * step;
  const yHigh = Math.ceil(high / step - 1e-9) * step;
  const toY = (value: number) => area.bottom - ((value - yLow) / (yHigh - yLow)) * (area.bottom - area.top);
  const yTicks: Tick[] = [];
  for (let value = yLow; value <= yHigh + step * 1e-6; value += step) yTicks.push({ position: toY(value), label: formatTick(value, step) });

  // x positions, inset from the frame so that markers stay inside it.
  const inset = 28;
  const scaled = plot.x.map((x) => (plot.logX === true ? Math.log2(x) : x));
  const xLow = Math.min(...scaled);
  const xHigh = Math.max(...scaled);
  const toX = (u: number) =>
    xHigh === xLow
      ? (area.left + area.right) / 2
      : area.left + inset + ((u - xLow) / (xHigh - xLow)) * (area.right - area.left - 2 * inset);
  const xTicks = plot.x.map((x, i) => ({ position: toX(scaled[i] as number), label: String(x) }));

  // Series: colours in order, references grey and dashed.
  let colorIndex = 0;
  let referenceIndex = 0;
  const series = plot.series.map((entry): SeriesLayout => {
    const reference = entry.reference === true;
    const color = reference
      ? (REFERENCE_COLORS[referenceIndex++ % REFERENCE_COLORS.length] as string)
      : (PALETTE[colorIndex++ % PALETTE.length] as string);
    const points: Point[] = [];
    entry.values.forEach((value, i) => {
      if (typeof value === "number" && Number.isFinite(value)) points.push({ x: xTicks[i]?.position as number, y: toY(value) });
    });
    let lineWidth = 1.75;
    if (reference) lineWidth = 1.5;
    else if (entry.emphasis === true) lineWidth = 2.5;
    return { label: entry.label, color, lineWidth, dash: reference ? [6, 4] : null, points };
  });

  const legend = series.map((_, i) => ({ x: area.right + 24, y: area.top + 10 + i * 22, series: i }));
  return {
    width,
    height,
    area,
    title: { x: (area.left + area.right) / 2, y: 26, text: plot.title },
    xLabel: { x: (area.left + area.right) / 2, y: area.bottom + 44, text: plot.xLabel },
    yLabel: { x: 22, y: (area.top + area.bottom) / 2, text: plot.yLabel },
    xTicks,
    yTicks,
    series,
    legend,
    markerRadius: 3.5,
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] as string);
}

const round = (value: number) => Number(value.toFixed(2));

/** Renders `plot` as a standalone SVG document. */
export function renderPlotSvg(plot: LinePlot): string {
  const layout = layoutPlot(plot);
  const { area } = layout;
  const style = PLOT_STYLE;
  const lines: string[] = [];
  lines.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}" font-family="${style.fontFamily}" fill="${style.text}" role="img">`,
  );
  // The title element is the plot's text alternative for screen readers.
  lines.push(`<title>${escapeXml(layout.title.text)}</title>`);
  lines.push(`<rect width="${layout.width}" height="${layout.height}" fill="${style.background}"/>`);
  lines.push(
    `<text class="title" x="${round(layout.title.x)}" y="${layout.title.y}" font-size="${style.titleSize}" font-weight="bold" text-anchor="middle">${escapeXml(layout.title.text)}</text>`,
  );

  // Grid, frame and ticks.
  lines.push(`<g class="grid" stroke="${style.grid}" stroke-width="1">`);
  for (const tick of layout.yTicks)
    lines.push(`<line x1="${area.left}" y1="${round(tick.position)}" x2="${area.right}" y2="${round(tick.position)}"/>`);
  lines.push("</g>");
  lines.push(`<g class="axes" stroke="${style.axis}" stroke-width="1" fill="none">`);
  lines.push(`<rect x="${area.left}" y="${area.top}" width="${area.right - area.left}" height="${area.bottom - area.top}"/>`);
  for (const tick of layout.xTicks)
    lines.push(`<line x1="${round(tick.position)}" y1="${area.bottom}" x2="${round(tick.position)}" y2="${area.bottom + 5}"/>`);
  for (const tick of layout.yTicks)
    lines.push(`<line x1="${area.left - 5}" y1="${round(tick.position)}" x2="${area.left}" y2="${round(tick.position)}"/>`);
  lines.push("</g>");
  lines.push(`<g class="x-ticks" font-size="${style.tickSize}" text-anchor="middle">`);
  for (const tick of layout.xTicks) lines.push(`<text x="${round(tick.position)}" y="${area.bottom + 19}">${escapeXml(tick.label)}</text>`);
  lines.push("</g>");
  lines.push(`<g class="y-ticks" font-size="${style.tickSize}" text-anchor="end">`);
  for (const tick of layout.yTicks)
    lines.push(`<text x="${area.left - 8}" y="${round(tick.position + 4)}">${escapeXml(tick.label)}</text>`);
  lines.push("</g>");
  lines.push(
    `<text class="x-label" x="${round(layout.xLabel.x)}" y="${layout.xLabel.y}" font-size="${style.labelSize}" text-anchor="middle">${escapeXml(layout.xLabel.text)}</text>`,
  );
  lines.push(
    `<text class="y-label" x="${layout.yLabel.x}" y="${round(layout.yLabel.y)}" font-size="${style.labelSize}" text-anchor="middle" transform="rotate(-90 ${layout.yLabel.x} ${round(layout.yLabel.y)})">${escapeXml(layout.yLabel.text)}</text>`,
  );

  // One polyline per series, with a marker on each point.
  lines.push(`<g class="series" fill="none">`);
  for (const series of layout.series) {
    const dash = series.dash === null ? "" : ` stroke-dasharray="${series.dash.join(" ")}"`;
    const points = series.points.map((p) => `${round(p.x)},${round(p.y)}`).join(" ");
    lines.push(
      `<polyline data-prefix="${escapeXml(series.label)}" points="${points}" stroke="${series.color}" stroke-width="${series.lineWidth}"${dash} stroke-linejoin="round"/>`,
    );
    for (const p of series.points)
      lines.push(`<circle cx="${round(p.x)}" cy="${round(p.y)}" r="${layout.markerRadius}" fill="${series.color}"/>`);
  }
  lines.push("</g>");

  // Legend: a line sample and the label per series.
  lines.push(`<g class="legend" font-size="${style.labelSize}">`);
  for (const row of layout.legend) {
    const series = layout.series[row.series] as SeriesLayout;
    const dash = series.dash === null ? "" : ` stroke-dasharray="${series.dash.join(" ")}"`;
    lines.push(
      `<line x1="${row.x}" y1="${row.y}" x2="${row.x + 22}" y2="${row.y}" stroke="${series.color}" stroke-width="${series.lineWidth}"${dash}/>`,
    );
    lines.push(`<text x="${row.x + 30}" y="${row.y + 4}">${escapeXml(series.label)}</text>`);
  }
  lines.push("</g>");
  lines.push("</svg>");
  return `${lines.join("\n")}\n`;
}
