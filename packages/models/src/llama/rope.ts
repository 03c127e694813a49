/**
 * RoPE inverse frequencies, with the scaling rules of Hugging Face configs.
 */

import type { LlamaConfig } from "../config.js";

/**
 * Returns inv_freq[i] = theta^(-2i / Dh) for i in [0, Dh/2), rescaled by `rope_scaling`:
 * "linear" divides every frequency by the factor; "llama3" (Llama 3.1) keeps high
 * frequencies, divides low ones by the factor and interpolates smoothly in between.
 */
export function ropeInverseFrequencies(config: LlamaConfig): number[] {
  const half = config.headDim / 2;
  const base = Array.from({ length: half }, (_, i) => config.ropeTheta ** (-(2 * i) / config.headDim));
  const scaling = config.ropeScaling;
  if (scaling === null) return base;
  if (scaling.type === "linear") return base.map((f) => f / scaling.factor);

  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
  const lowFreqWavelength = originalMaxPositions / lowFreqFactor;
  const highFreqWavelength = originalMaxPositions / highFreqFactor;
  return base.map((frequency) => {
    const wavelength = (2 * Math.PI) / frequency;
    if (wavelength < highFreqWavelength) return frequency;
    if (wavelength > lowFreqWavelength) return frequency / factor;
    const smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return (1 - smooth) * (frequency / factor) + smooth * frequency;
  });
}

/**
 * Moves keys from positions p to p + delta by rotating each (i, i + Dh/2) pair by
 * delta · inv_freq[i], because RoPE rotations compose: R(p + delta) = R(delta) · R(p).
 * `keys` is [K, Hkv, Dh] row-major; returns a new array.
 */
export function rebaseKeys(keys: Float32Array, config: LlamaConfig, delta: number): Float32Array {
  const Dh = config.headDim;
  const half = Dh / 2;
  const inverse = ropeInverseFrequencies(config);
  const cos = inverse.map((f) => Math.cos(delta * f));
  const sin = inverse.map((f) => Math.sin(delta * f));
  const out = new Float32Array(keys.length);
  for (let offset = 0; offset < keys.length; offset += Dh) {
    for (let i = 0; i < half; i++) {
      const x1 = keys[offset + i] as number;
      const x2 = keys[offset + half + i] as number;
      out[offset + i] = x1 * (cos[i] as number) - x2 * (sin[i] as number);
      out[offset + half + i] = x2 * (cos[i] as number) + x1 * (sin[i] as number);
    }
  }
  return out;
}
