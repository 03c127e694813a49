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
