/**
 * Draws a plot layout into RGB pixels and encodes it as PNG, without native code or
 * system fonts: anti-aliased lines and discs from pixel-to-shape distances, text from the
 * 5×7 bitmap font.
 */

import { GLYPH_ADVANCE, GLYPH_ASCENT, GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixels } from "./bitmap-font.js";
import { type LinePlot, PLOT_STYLE, type Point, type SeriesLayout, layoutPlot } from "./plot.js";
import { encodePng } from "./png.js";

type Rgb = readonly [number, number, number];

function parseColor(hex: string): Rgb {
  const value = Number.parseInt(hex.slice(1), 16);
  return [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

/** An RGB canvas; coordinates are pixels, y down, pixel (x, y) covers [x, x+1) × [y, y+1). */
export class RgbCanvas {
  readonly pixels: Uint8Array; // [height, width, 3]

  constructor(
    readonly width: number,
    readonly height: number,
    background: string,
  ) {
    this.pixels = new Uint8Array(width * height * 3);
    const [r, g, b] = parseColor(background);
    for (let i = 0; i < width * height; i++) this.pixels.set([r, g, b], i * 3);
  }

  /** Mixes `color` into pixel (x, y) with opacity `alpha` in [0, 1]. */
  blend(x: number, y: number, color: Rgb, alpha: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || alpha <= 0) return;
    const a = Math.min(1, alpha);
    const offset = (y * this.width + x) * 3;
    for (let c = 0; c < 3; c++)
      this.pixels[offset + c] = Math.round((this.pixels[offset + c] as number) * (1 - a) + (color[c] as number) * a);
  }

  fillRect(x: number, y: number, width: number, height: number, color: string): void {
    const rgb = parseColor(color);
    for (let py = Math.max(0, Math.floor(y)); py < Math.min(this.height, Math.ceil(y + height)); py++) {
      for (let px = Math.max(0, Math.floor(x)); px < Math.min(this.width, Math.ceil(x + width)); px++) this.blend(px, py, rgb, 1);
    }
  }

  /**
   * Strokes a polyline of `lineWidth` pixels, optionally dashed ([dash, gap] in pixels along
   * the line). Coverage per pixel is the max over segments, so joints are not drawn twice.
   */
  strokePolyline(points: readonly Point[], color: string, lineWidth: number, dash: readonly [number, number] | null = null): void {
    if (points.length < 2) return;
    const rgb = parseColor(color);
    const half = lineWidth / 2;
    const xs = points.map((p) => p.x);
    const ys = points.map((p) => p.y);
    const x0 = Math.max(0, Math.floor(Math.min(...xs) - half - 1));
    const x1 = Math.min(this.width - 1, Math.ceil(Math.max(...xs) + half + 1));
    const y0 = Math.max(0, Math.floor(Math.min(...ys) - half - 1));
    const y1 = Math.min(this.height - 1, Math.ceil(Math.max(...ys) + half + 1));
    const boxWidth = x1 - x0 + 1;
    const coverage = new Float32Array(boxWidth * (y1 - y0 + 1));

    // Accumulate the coverage of each segment into the box.
    let travelled = 0;
    for (let s = 0; s + 1 < points.length; s++) {
      const a = points[s] as Point;
      const b = points[s + 1] as Point;
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const length = Math.hypot(dx, dy);
      const sx0 = Math.max(x0, Math.floor(Math.min(a.x, b.x) - half - 1));
      const sx1 = Math.min(x1, Math.ceil(Math.max(a.x, b.x) + half + 1));
      const sy0 = Math.max(y0, Math.floor(Math.min(a.y, b.y) - half - 1));
      const sy1 = Math.min(y1, Math.ceil(Math.max(a.y, b.y) + half + 1));
      for (let py = sy0; py <= sy1; py++) {
        for (let px = sx0; px <= sx1; px++) {
          // Distance from the pixel centre to the segment, and where along it the foot falls.
          const cx = px + 0.5 - a.x;
          const cy = py + 0.5 - a.y;
          const t = length === 0 ? 0 : Math.max(0, Math.min(1, (cx * dx + cy * dy) / (length * length)));
          const distance = Math.hypot(cx - t * dx, cy - t * dy);
          let alpha = Math.max(0, Math.min(1, half + 0.5 - distance));
          if (dash !== null && alpha > 0 && (travelled + t * length) % (dash[0] + dash[1]) >= dash[0]) alpha = 0;
          const index = (py - y0) * boxWidth + (px - x0);
          coverage[index] = Math.max(coverage[index] as number, alpha);
        }
      }
      travelled += length;
    }

    for (let py = y0; py <= y1; py++) {
      for (let px = x0; px <= x1; px++) this.blend(px, py, rgb, coverage[(py - y0) * boxWidth + (px - x0)] as number);
    }
  }

  /** Fills a disc centred at (cx, cy) with anti-aliased edges. */
  fillDisc(cx: number, cy: number, radius: number, color: string): void {
    const rgb = parseColor(color);
    for (let py = Math.floor(cy - radius - 1); py <= Math.ceil(cy + radius + 1); py++) {
      for (let px = Math.floor(cx - radius - 1); px <= Math.ceil(cx + radius + 1); px++) {
        const distance = Math.hypot(px + 0.5 - cx, py + 0.5 - cy);
        this.blend(px, py, rgb, radius + 0.5 - distance);
      }
    }
  }

  /**
   * Draws `text` in the bitmap font, `scale` canvas pixels per font pixel, with its baseline
   * at y. `anchor` places x at the start, middle or end of the text. `upright: false`
   * rotates it by -90° around (x, y), reading upwards.
   */
  drawText(
    text: string,
    x: number,
    y: number,
    options: { scale: number; color: string; anchor?: "start" | "middle" | "end"; upright?: boolean; bold?: boolean },
  ): void {
    const { scale } = options;
    const rgb = parseColor(options.color);
    const characters = [...text];
    const textWidth = (characters.length * GLYPH_ADVANCE - (GLYPH_ADVANCE - GLYPH_WIDTH)) * scale;
    let shift = 0;
    if (options.anchor === "middle") shift = -textWidth / 2;
    else if (options.anchor === "end") shift = -textWidth;
    const upright = options.upright ?? true;
    const passes = options.bold === true ? [0, 1] : [0];

    characters.forEach((character, index) => {
      const pixels = glyphPixels(character);
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        for (let column = 0; column < GLYPH_WIDTH; column++) {
          if (!pixels[row * GLYPH_WIDTH + column]) continue;
          for (const pass of passes) {
            // Offsets along the text (u) and downwards from the baseline (v), before rotation.
            const u = Math.round(shift) + (index * GLYPH_ADVANCE + column) * scale + pass;
            const v = (row - GLYPH_ASCENT) * scale;
            for (let i = 0; i < scale; i++) {
              for (let j = 0; j < scale; j++) {
                const px = upright ? x + u + i : x + v + j;
                const py = upright ? y + v + j : y - u - i;
                this.blend(Math.round(px), Math.round(py), rgb, 1);
              }
            }
          }
        }
      }
    });
  }
}

/** Renders `plot` as PNG bytes, `scale` pixels per SVG pixel (2 by default, for sharp text). */
export function renderPlotPng(plot: LinePlot, scale = 2): Uint8Array {
  const layout = layoutPlot(plot);
  const style = PLOT_STYLE;
  const s = scale;
  const canvas = new RgbCanvas(Math.round(layout.width * s), Math.round(layout.height * s), style.background);
  const { area } = layout;
  const fontScale = Math.max(1, Math.round(s));

  // Grid, frame and ticks.
  for (const tick of layout.yTicks) canvas.fillRect(area.left * s, tick.position * s - s / 2, (area.right - area.left) * s, s, style.grid);
  canvas.fillRect(area.left * s, area.top * s, (area.right - area.left) * s, s, style.axis);
  canvas.fillRect(area.left * s, area.bottom * s - s / 2, (area.right - area.left) * s + s, s, style.axis);
  canvas.fillRect(area.left * s - s / 2, area.top * s, s, (area.bottom - area.top) * s, style.axis);
  canvas.fillRect(area.right * s - s / 2, area.top * s, s, (area.bottom - area.top) * s, style.axis);
  for (const tick of layout.xTicks) {
    canvas.fillRect(tick.position * s - s / 2, area.bottom * s, s, 5 * s, style.axis);
    canvas.drawText(tick.label, tick.position * s, (area.bottom + 19) * s, { scale: fontScale, color: style.text, anchor: "middle" });
  }
  for (const tick of layout.yTicks) {
    canvas.fillRect((area.left - 5) * s, tick.position * s - s / 2, 5 * s, s, style.axis);
    canvas.drawText(tick.label, (area.left - 8) * s, (tick.position + 4) * s, { scale: fontScale, color: style.text, anchor: "end" });
  }

  // Title and axis labels.
  canvas.drawText(layout.title.text, layout.title.x * s, layout.title.y * s, {
    scale: fontScale + 1,
    color: style.text,
    anchor: "middle",
    bold: true,
  });
  canvas.drawText(layout.xLabel.text, layout.xLabel.x * s, layout.xLabel.y * s, { scale: fontScale, color: style.text, anchor: "middle" });
  canvas.drawText(layout.yLabel.text, (layout.yLabel.x + 4) * s, layout.yLabel.y * s, {
    scale: fontScale,
    color: style.text,
    anchor: "middle",
    upright: false,
  });

  // Series with markers, then the legend.
  const scaled = (series: SeriesLayout) => series.points.map((p) => ({ x: p.x * s, y: p.y * s }));
  for (const series of layout.series) {
    const dash = series.dash === null ? null : ([series.dash[0] * s, series.dash[1] * s] as const);
    canvas.strokePolyline(scaled(series), series.color, series.lineWidth * s, dash);
    for (const p of scaled(series)) canvas.fillDisc(p.x, p.y, layout.markerRadius * s, series.color);
  }
  for (const row of layout.legend) {
    const series = layout.series[row.series] as SeriesLayout;
    const dash = series.dash === null ? null : ([series.dash[0] * s, series.dash[1] * s] as const);
    canvas.strokePolyline(
      [
        { x: row.x * s, y: row.y * s },
        { x: (row.x + 22) * s, y: row.y * s },
      ],
      series.color,
      series.lineWidth * s,
      dash,
    );
    canvas.drawText(series.label, (row.x + 30) * s, (row.y + 4) * s, { scale: fontScale, color: style.text });
  }
  return encodePng(canvas.width, canvas.height, canvas.pixels);
}
