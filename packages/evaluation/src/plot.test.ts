import { describe, expect, it } from "vitest";
import { GLYPH_ASCENT, GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixels, hasGlyph } from "./bitmap-font.js";
import { type LinePlot, layoutPlot, renderPlotSvg } from "./plot.js";
import { PNG_SIGNATURE, crc32, encodePng } from "./png.js";
import { RgbCanvas, renderPlotPng } from "./raster.js";
import { decodePng } from "./test/png-reader.js";

const PLOT: LinePlot = {
  title: "Gap closed against compression ratio",
  xLabel: "compression ratio (context tokens per memory token)",
  yLabel: "gap closed",
  x: [4, 8, 16, 32],
  logX: true,
  yInclude: [0, 1],
  series: [
    { label: "memory (KL reconstruction)", values: [0.9, 0.85, 0.8, 0.6], emphasis: true },
    { label: "last-k", values: [0.7, 0.6, 0.3, null] },
    { label: "none", values: [0, 0, 0, 0], reference: true },
    { label: "full", values: [1, 1, 1, 1], reference: true },
  ],
};

function attribute(element: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(element)?.[1];
}

describe("layoutPlot", () => {
  it("spaces log-scale ratios equally and maps values onto the y ticks", () => {
    const layout = layoutPlot(PLOT);
    const xs = layout.xTicks.map((tick) => tick.position);
    expect(xs[1]! - xs[0]!).toBeCloseTo(xs[2]! - xs[1]!, 9);
    expect(xs[3]! - xs[2]!).toBeCloseTo(xs[2]! - xs[1]!, 9);
    expect(layout.xTicks.map((tick) => tick.label)).toEqual(["4", "8", "16", "32"]);

    // Values span [0, 1], so the ticks are 0, 0.2, ..., 1 from the bottom to the top of the frame.
    expect(layout.yTicks.map((tick) => tick.label)).toEqual(["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    expect(layout.yTicks[0]?.position).toBe(layout.area.bottom);
    expect(layout.yTicks[5]?.position).toBeCloseTo(layout.area.top, 9);
    const full = layout.series[3]!;
    expect(full.points.every((p) => Math.abs(p.y - layout.area.top) < 1e-9)).toBe(true);
    expect(layout.series[1]?.points).toHaveLength(3);
  });

  it("widens the range to negative values with nice ticks", () => {
    const layout = layoutPlot({ ...PLOT, series: [{ label: "m", values: [-4.6, -3.3, 0.5, 0.7] }] });
    // (1 - -4.6) / 5 = 1.12 rounds up to a step of 2; the range widens to whole steps.
    expect(layout.yTicks.map((tick) => tick.label)).toEqual(["-6", "-4", "-2", "0", "2"]);
  });

  it("uses 2.5 steps with two decimals", () => {
    // (1.2 - 0) / 5 = 0.24, so the step is 0.25.
    const layout = layoutPlot({ ...PLOT, yInclude: [0], series: [{ label: "m", values: [0.1, 0.6, 0.7, 1.2] }] });
    expect(layout.yTicks.map((tick) => tick.label)).toEqual(["0.00", "0.25", "0.50", "0.75", "1.00", "1.25"]);
  });

  it("rejects series of the wrong length", () => {
    expect(() => layoutPlot({ ...PLOT, series: [{ label: "short", values: [1] }] })).toThrow(
      'series "short" has 1 values but the plot has 4 x values',
    );
  });
});

describe("renderPlotSvg", () => {
  const svg = renderPlotSvg(PLOT);

  it("is one svg element with a size and a white background", () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="800" height="440" viewBox="0 0 800 440"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<svg/g)).toHaveLength(1);
    expect(svg).toContain('<rect width="800" height="440" fill="#ffffff"/>');
  });

  it("draws one polyline per prefix, with its points", () => {
    const polylines = svg.match(/<polyline[^>]*\/>/g) ?? [];
    expect(polylines.map((line) => attribute(line, "data-prefix"))).toEqual(["memory (KL reconstruction)", "last-k", "none", "full"]);
    const layout = layoutPlot(PLOT);
    const memoryPoints = attribute(polylines[0]!, "points")
      ?.split(" ")
      .map((pair) => pair.split(",").map(Number));
    expect(memoryPoints).toHaveLength(4);
    memoryPoints?.forEach(([x, y], i) => {
      expect(x).toBeCloseTo(layout.series[0]!.points[i]!.x, 2);
      expect(y).toBeCloseTo(layout.series[0]!.points[i]!.y, 2);
    });
    expect(attribute(polylines[1]!, "points")?.split(" ")).toHaveLength(3);
    expect(attribute(polylines[2]!, "stroke-dasharray")).toBe("6 4");
    expect(attribute(polylines[0]!, "stroke-dasharray")).toBeUndefined();
    expect(Number(attribute(polylines[0]!, "stroke-width"))).toBeGreaterThan(Number(attribute(polylines[1]!, "stroke-width")));
    expect(svg.match(/<circle /g)).toHaveLength(4 + 3 + 4 + 4);
  });

  it("has a title, axis labels, tick labels and a legend", () => {
    expect(svg).toContain(">Gap closed against compression ratio</text>");
    expect(svg).toMatch(/<text class="x-label"[^>]*>compression ratio \(context tokens per memory token\)<\/text>/);
    expect(svg).toMatch(/<text class="y-label"[^>]*transform="rotate\(-90 [\d.]+ [\d.]+\)">gap closed<\/text>/);
    const xTicks = /<g class="x-ticks"[^>]*>([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? "";
    expect([...xTicks.matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1])).toEqual(["4", "8", "16", "32"]);
    const yTicks = /<g class="y-ticks"[^>]*>([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? "";
    expect([...yTicks.matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1])).toEqual(["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    const legend = /<g class="legend"[^>]*>([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? "";
    expect([...legend.matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1])).toEqual(["memory (KL reconstruction)", "last-k", "none", "full"]);
  });

  it("escapes XML in labels", () => {
    const escaped = renderPlotSvg({ ...PLOT, title: 'a < b & "c"', series: [{ label: "x<y>", values: [1, 2, 3, 4] }] });
    expect(escaped).toContain(">a &lt; b &amp; &quot;c&quot;</text>");
    expect(escaped).toContain('data-prefix="x&lt;y&gt;"');
    expect(escaped).not.toContain("x<y>");
  });
});

describe("encodePng", () => {
  it("computes the standard CRC-32 check value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });

  it("round-trips pixels through signature, IHDR, IDAT and IEND", () => {
    const rgb = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => (i * 37) % 256);
    const file = encodePng(3, 2, rgb);
    expect([...file.subarray(0, 8)]).toEqual([...PNG_SIGNATURE]);
    const decoded = decodePng(file);
    expect(decoded.chunkTypes).toEqual(["IHDR", "IDAT", "IEND"]);
    expect([decoded.width, decoded.height, decoded.bitDepth, decoded.colorType]).toEqual([3, 2, 8, 2]);
    expect([...decoded.rgb]).toEqual([...rgb]);
  });

  it("rejects pixel data of the wrong size", () => {
    expect(() => encodePng(2, 2, new Uint8Array(11))).toThrow("PNG pixel data must have width × height × 3 = 12 bytes, got 11");
  });
});

describe("renderPlotPng", () => {
  const decoded = decodePng(renderPlotPng(PLOT));
  const pixel = (x: number, y: number) => [...decoded.rgb.subarray((y * decoded.width + x) * 3, (y * decoded.width + x) * 3 + 3)];

  it("is twice the SVG size", () => {
    expect([decoded.width, decoded.height]).toEqual([1600, 880]);
  });

  it("has ink on a white background", () => {
    let ink = 0;
    for (let i = 0; i < decoded.rgb.length; i += 3)
      if (decoded.rgb[i] !== 255 || decoded.rgb[i + 1] !== 255 || decoded.rgb[i + 2] !== 255) ink += 1;
    const share = ink / (decoded.width * decoded.height);
    expect(share).toBeGreaterThan(0.01);
    expect(share).toBeLessThan(0.3);
    expect(pixel(2, 2)).toEqual([255, 255, 255]);
  });

  it("draws each series' markers in its colour", () => {
    const layout = layoutPlot(PLOT);
    const hex = (color: string) => [1, 3, 5].map((i) => Number.parseInt(color.slice(i, i + 2), 16));
    // The last-k marker at ratio 4 is not covered by another series.
    const lastK = layout.series[1]!;
    const marker = lastK.points[0]!;
    expect(pixel(Math.floor(marker.x * 2), Math.floor(marker.y * 2))).toEqual(hex(lastK.color));
    const memory = layout.series[0]!;
    expect(pixel(Math.floor(memory.points[3]!.x * 2), Math.floor(memory.points[3]!.y * 2))).toEqual(hex(memory.color));
  });
});

describe("RgbCanvas", () => {
  it("blends a half-covered pixel halfway", () => {
    const canvas = new RgbCanvas(2, 1, "#ffffff");
    canvas.blend(1, 0, [0, 0, 0], 0.5);
    expect([...canvas.pixels]).toEqual([255, 255, 255, 128, 128, 128]);
  });

  it("draws a glyph at its baseline", () => {
    const canvas = new RgbCanvas(8, 12, "#ffffff");
    canvas.drawText("I", 1, 9, { scale: 1, color: "#000000" });
    // "I" is ".###." on its top and bottom rows: columns 2..4 of rows 2 and 8.
    const ink = (x: number, y: number) => canvas.pixels[(y * 8 + x) * 3] === 0;
    expect([1, 2, 3, 4, 5].map((x) => ink(x, 2))).toEqual([false, true, true, true, false]);
    expect([1, 2, 3, 4, 5].map((x) => ink(x, 8))).toEqual([false, true, true, true, false]);
    expect([1, 2, 3, 4, 5].map((x) => ink(x, 5))).toEqual([false, false, true, false, false]);
    expect(ink(3, 9)).toBe(false);
  });
});

describe("bitmap font", () => {
  it("has a well-formed glyph for every printable ASCII character", () => {
    for (let code = 32; code < 127; code++) {
      const character = String.fromCharCode(code);
      expect(hasGlyph(character), character).toBe(true);
      expect(glyphPixels(character)).toHaveLength(GLYPH_WIDTH * GLYPH_HEIGHT);
    }
  });

  it("puts descenders below the baseline only for g, j, p, q and y", () => {
    const descends = (character: string) =>
      glyphPixels(character)
        .slice(GLYPH_ASCENT * GLYPH_WIDTH)
        .some(Boolean);
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
    expect(printable.filter(descends)).toEqual(["g", "j", "p", "q", "y"]);
  });

  it("draws a box for a character it lacks", () => {
    expect(hasGlyph("×")).toBe(false);
    expect(glyphPixels("×").slice(0, GLYPH_WIDTH)).toEqual([true, true, true, true, true]);
  });
});
