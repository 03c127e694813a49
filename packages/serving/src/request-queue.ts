/**
 * Admission of requests: at most `maxConcurrent` run at once, at most `maxQueued` more
 * wait in arrival order, and any further request is rejected with QueueFullError.
 */

import { InvalidArgumentError } from "@lcc/tensor";
import { QueueFullError } from "./errors.js";

export interface QueueLimits {
  /** Requests that run at once. Example: 4. */
  readonly maxConcurrent: number;
  /** Requests that may wait for a free slot; 0 rejects every request beyond maxConcurrent. Example: 32. */
  readonly maxQueued: number;
}

export interface QueueStats {
  readonly running: number;
  readonly queued: number;
}

/** A place in the queue. `started` resolves to true when the request may run, false when it was cancelled while waiting. */
export interface QueueTicket {
  readonly started: Promise<boolean>;
  /** Frees the slot (or the place in the queue). Calling it again does nothing. */
  release(): void;
}

interface Waiter {
  readonly start: (started: boolean) => void;
}

export class RequestQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly limits: QueueLimits) {
    const problems: string[] = [];
    if (!Number.isInteger(limits.maxConcurrent) || limits.maxConcurrent < 1) problems.push(`maxConcurrent must be an integer ≥ 1, got ${limits.maxConcurrent}`);
    if (!Number.isInteger(limits.maxQueued) || limits.maxQueued < 0) problems.push(`maxQueued must be an integer ≥ 0, got ${limits.maxQueued}`);
    if (problems.length > 0) throw new InvalidArgumentError(`invalid queue limits: ${problems.join("; ")}`, { details: { problems } });
  }

  /**
   * Takes a slot, or a place in the queue, at once. Throws QueueFullError when neither is
   * free. Aborting `signal` while the request waits removes it from the queue.
   */
  enqueue(signal?: AbortSignal): QueueTicket {
    if (this.running < this.limits.maxConcurrent) {
      this.running++;
      return this.ticket(Promise.resolve(true), true);
    }
    if (this.waiting.length >= this.limits.maxQueued) {
      const { maxConcurrent, maxQueued } = this.limits;
      throw new QueueFullError(
        `the request queue is full: ${this.running} requests are running (maxConcurrent ${maxConcurrent}) and ${this.waiting.length} are waiting (maxQueued ${maxQueued}); retry later or raise maxQueued`,
        { details: { running: this.running, queued: this.waiting.length, maxConcurrent, maxQueued } },
      );
    }

    let holdsSlot = false;
    let waiter: Waiter | undefined;
    const started = new Promise<boolean>((resolve) => {
      waiter = {
        start: (start) => {
          holdsSlot = start;
          signal?.removeEventListener("abort", onAbort);
          resolve(start);
        },
      };
    });
    const onAbort = () => {
      const index = this.waiting.indexOf(waiter as Waiter);
      if (index >= 0) {
        this.waiting.splice(index, 1);
        (waiter as Waiter).start(false);
      }
    };
    this.waiting.push(waiter as Waiter);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });

    let released = false;
    return {
      started,
      release: () => {
        if (released) return;
        released = true;
        if (holdsSlot) this.releaseSlot();
        else onAbort();
      },
    };
  }

  stats(): QueueStats {
    return { running: this.running, queued: this.waiting.length };
  }

  private ticket(started: Promise<boolean>, holdsSlot: boolean): QueueTicket {
    let released = false;
    return {
      started,
      release: () => {
        if (released || !holdsSlot) return;
        released = true;
        this.releaseSlot();
      },
    };
  }

  /** Hands the slot to the first waiting request, or frees it. */
  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.running--;
    else next.start(true);
  }
}
