/**
 * Reads back the PNG files that png.ts writes (8-bit RGB, filter type 0), checking each
 * chunk's CRC-32 with node:zlib's own implementation where it exists.
 */

import { inflateSync } from "node:zlib";
import * as zlib from "node:zlib";
import { crc32 } from "../png.js";

export interface DecodedPng {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: number;
  readonly colorType: number;
  readonly chunkTypes: readonly string[];
  /** [height, width, 3] bytes. */
  readonly rgb: Uint8Array;
}

const zlibCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;

export function decodePng(file: Uint8Array): DecodedPng {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const chunkTypes: string[] = [];
  const idat: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colorType = 0;
  for (let offset = 8; offset < file.length; ) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...file.subarray(offset + 4, offset + 8));
    const data = file.subarray(offset + 8, offset + 8 + length);
    const stored = view.getUint32(offset + 8 + length);
    const computed = (zlibCrc32 ?? crc32)(file.subarray(offset + 4, offset + 8 + length)) >>> 0;
    if (stored !== computed) throw new Error(`chunk ${type} at ${offset}: CRC ${stored.toString(16)} != ${computed.toString(16)}`);
    chunkTypes.push(type);
    if (type === "IHDR") {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      bitDepth = data[8] as number;
      colorType = data[9] as number;
    }
    if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }

  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3;
  if (raw.length !== height * (stride + 1)) throw new Error(`IDAT inflates to ${raw.length} bytes, expected ${height * (stride + 1)}`);
  const rgb = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    if (filter !== 0) throw new Error(`row ${y} uses filter ${filter}; this reader handles filter 0 only`);
    rgb.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, bitDepth, colorType, chunkTypes, rgb };
}
