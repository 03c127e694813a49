/**
 * AdamW with decoupled weight decay, learning-rate schedules and global-norm clipping,
 * over plain float32 parameter arrays (the adapters and buffer embeddings are small).
 */

export interface AdamWOptions {
  readonly learningRate: number; // 1e-2
  readonly beta1: number; // 0.9
  readonly beta2: number; // 0.999
  readonly epsilon: number; // 1e-8
  readonly weightDecay: number; // 0
}

export class AdamW {
  private readonly first: Float32Array[];
  private readonly second: Float32Array[];
  private step = 0;

  constructor(
    private readonly parameters: readonly Float32Array[],
    private readonly options: AdamWOptions,
  ) {
    this.first = parameters.map((p) => new Float32Array(p.length));
    this.second = parameters.map((p) => new Float32Array(p.length));
  }

  /** Applies one update with `gradients` (same order and sizes as the parameters) at `learningRate`. */
  update(gradients: readonly (Float32Array | Float64Array)[], learningRate = this.options.learningRate): void {
    this.step += 1;
    const { beta1, beta2, epsilon, weightDecay } = this.options;
    const correction1 = 1 - beta1 ** this.step;
    const correction2 = 1 - beta2 ** this.step;
    this.parameters.forEach((parameter, index) => {
      const gradient = gradients[index] as Float32Array | Float64Array;
      const m = this.first[index] as Float32Array;
      const v = this.second[index] as Float32Array;
      for (let i = 0; i < parameter.length; i++) {
        const g = gradient[i] as number;
        // Decoupled weight decay: p ← p · (1 - lr · λ), then the Adam step.
        let p = (parameter[i] as number) * (1 - learningRate * weightDecay);
        const mi = beta1 * (m[i] as number) + (1 - beta1) * g;
        const vi = beta2 * (v[i] as number) + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        p -= (learningRate * (mi / correction1)) / (Math.sqrt(vi / correction2) + epsilon);
        parameter[i] = p;
      }
    });
  }
}

/** L2 norm over every gradient array together. */
export function globalNorm(gradients: readonly (Float32Array | Float64Array)[]): number {
  let sum = 0;
  for (const gradient of gradients) for (let i = 0; i < gradient.length; i++) sum += (gradient[i] as number) ** 2;
  return Math.sqrt(sum);
}

/** Scales gradients in place so that their global norm is at most `maxNorm`; returns the norm before clipping. */
export function clipGlobalNorm(gradients: readonly (Float32Array | Float64Array)[], maxNorm: number): number {
  const norm = globalNorm(gradients);
  const scale = maxNorm / (norm + 1e-6);
  if (scale < 1) for (const gradient of gradients) for (let i = 0; i < gradient.length; i++) gradient[i] = (gradient[i] as number) * scale;
  return norm;
}

export type ScheduleName = "constant" | "cosine";

/** Learning rate at `step` (0-based): linear warm-up, then constant or cosine decay to 0 at `totalSteps`. */
export function learningRateAt(schedule: ScheduleName, baseRate: number, step: number, totalSteps: number, warmupSteps: number): number {
  if (warmupSteps > 0 && step < warmupSteps) return (baseRate * (step + 1)) / warmupSteps;
  if (schedule === "constant") return baseRate;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  return 0.5 * baseRate * (1 + Math.cos(Math.PI * progress));
}
