/**
 * Stop strings, matched on the generated text rather than on tokens, so that a stop
 * string is found whatever tokens spell it, also across several tokens.
 */

export interface StopMatch {
  /** Text that is final: it cannot be part of a stop string any more. */
  readonly text: string;
  /** The stop string found, or null. Text from the stop string on is dropped. */
  readonly stop: string | null;
}

/**
 * Holds back the end of the generated text while it could still begin a stop string,
 * and releases the rest.
 */
export class StopStringMatcher {
  /** Generated text not yet released. */
  private pending = "";
  private stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds newly generated text; returns the text now final and the stop string if one completed. */
  push(text: string): StopMatch {
    if (this.stopped) return { text: "", stop: null };
    this.pending += text;

    // The earliest stop string wins; at one index, the longest.
    let stopIndex = -1;
    let stop: string | null = null;
    for (const candidate of this.stops) {
      const index = this.pending.indexOf(candidate);
      if (index >= 0 && (stopIndex < 0 || index < stopIndex || (index === stopIndex && candidate.length > (stop as string).length))) {
        stopIndex = index;
        stop = candidate;
      }
    }
    if (stop !== null) {
      this.stopped = true;
      const released = this.pending.slice(0, stopIndex);
      this.pending = "";
      return { text: released, stop };
    }

    // Keep the longest end of the text that is a proper prefix of a stop string.
    const held = this.heldLength();
    const released = this.pending.slice(0, this.pending.length - held);
    this.pending = this.pending.slice(this.pending.length - held);
    return { text: released, stop: null };
  }

  /** Releases the held-back text at the end of generation. */
  flush(): string {
    const released = this.stopped ? "" : this.pending;
    this.pending = "";
    return released;
  }

  private heldLength(): number {
    let held = 0;
    for (const stop of this.stops) {
      for (let length = Math.min(stop.length - 1, this.pending.length); length > held; length--) {
        if (this.pending.endsWith(stop.slice(0, length))) {
          held = length;
          break;
        }
      }
    }
    return held;
  }
}
