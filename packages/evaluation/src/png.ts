/**
 * A minimal PNG encoder: 8-bit RGB, no interlacing, filter type 0 (None) on every row,
 * compressed with node:zlib. Layout from the PNG specification (W3C, 2003): signature,
 * IHDR, IDAT, IEND, each chunk as length, type, data and the CRC-32 of type and data.
 */

import { deflateSync } from "node:zlib";
import { InvalidArgumentError } from "@lcc/tensor";

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = (() => {
  // CRC-32 with the reflected polynomial 0xEDB88320, as PNG and zlib use.
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of `bytes` (crc32("123456789") = 0xCBF43926). */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes `rgb` ([height, width, 3] bytes, row-major) as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InvalidArgumentError(`PNG size must be positive integers, got ${width} × ${height}`);
  }
  if (rgb.length !== width * height * 3) {
    throw new InvalidArgumentError(`PNG pixel data must have width × height × 3 = ${width * height * 3} bytes, got ${rgb.length}`);
  }

  // IHDR: size, bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8);

  // IDAT: each row prefixed by its filter type byte (0: None).
  const stride = width * 3;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const compressed = new Uint8Array(deflateSync(raw, { level: 9 }));

  const parts = [PNG_SIGNATURE, chunk("IHDR", header), chunk("IDAT", compressed), chunk("IEND", new Uint8Array(0))];
  const file = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    file.set(part, offset);
    offset += part.length;
  }
  return file;
}
