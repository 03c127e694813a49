/**
 * Typed progress events of a compilation, for progress bars and logs.
 */

export type CompileProgress =
  | {
      /** The teacher generated the answer of one regularisation query. */
      readonly type: "teacher";
      readonly segment: number;
      readonly segments: number;
      readonly done: number;
      readonly total: number;
    }
  | {
      /** One optimisation step finished. */
      readonly type: "step";
      readonly segment: number;
      readonly segments: number;
      readonly step: number;
      readonly steps: number;
      readonly loss: number;
      /** Loss of each sample group, e.g. { reconstruction: 2.1, regularisation: 0.4 }. */
      readonly losses: Readonly<Record<string, number>>;
      /** Global gradient norm before clipping. */
      readonly gradientNorm: number;
      readonly learningRate: number;
      /** Tokens processed per second by the step graph (encoder and reader). */
      readonly tokensPerSecond: number;
      readonly etaSeconds: number;
    }
  | {
      /** Optimisation stopped before the step budget. */
      readonly type: "stopped";
      readonly segment: number;
      readonly reason: "time budget" | "early stopping";
      readonly step: number;
    };
