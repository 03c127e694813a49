/**
 * The stream a generate call returns. The engine pushes chunks as it produces them, so
 * a request runs to its end whether or not the caller reads the stream. Chunks wait in
 * the stream until read, at most maxTokens + 1 of them.
 */

import { InvalidArgumentError } from "@lcc/tensor";
import type { GenerationChunk, GenerationSummary } from "./request.js";

/** The producer side of a Generation, kept by the engine. */
export interface GenerationWriter {
  push(chunk: GenerationChunk): void;
  finish(summary: GenerationSummary): void;
  fail(error: unknown): void;
}

/**
 * Chunks of one request as an async iterable (one reader), and the summary at the end.
 * Leaving a `for await` loop early cancels the request.
 */
export class Generation implements AsyncIterable<GenerationChunk> {
  /** Resolves when the request ends, also when cancelled; rejects with the error that ended it otherwise. */
  readonly summary: Promise<GenerationSummary>;

  private readonly chunks: GenerationChunk[] = [];
  private state: "running" | "finished" | "failed" = "running";
  private failure: unknown;
  private wake: (() => void) | null = null;
  private iterated = false;

  private constructor(
    private readonly controller: AbortController,
    summary: Promise<GenerationSummary>,
  ) {
    this.summary = summary;
    // The error also reaches readers of the chunks, so an unread summary must not
    // count as an unhandled rejection.
    this.summary.catch(() => undefined);
  }

  /** @internal Creates a generation and the writer the engine fills it through. */
  static create(controller: AbortController): { generation: Generation; writer: GenerationWriter } {
    let resolveSummary!: (summary: GenerationSummary) => void;
    let rejectSummary!: (error: unknown) => void;
    const summary = new Promise<GenerationSummary>((resolve, reject) => {
      resolveSummary = resolve;
      rejectSummary = reject;
    });
    const generation = new Generation(controller, summary);
    const writer: GenerationWriter = {
      push: (chunk) => {
        generation.chunks.push(chunk);
        generation.notify();
      },
      finish: (result) => {
        generation.state = "finished";
        resolveSummary(result);
        generation.notify();
      },
      fail: (error) => {
        generation.state = "failed";
        generation.failure = error;
        rejectSummary(error);
        generation.notify();
      },
    };
    return { generation, writer };
  }

  /** Ends the request with finish reason "cancelled"; tokens already generated stay in the summary. */
  cancel(): void {
    this.controller.abort();
  }

  /** Reads the whole stream and returns the summary. */
  async collect(): Promise<GenerationSummary> {
    for await (const _ of this) {
      // The summary contains the text and token ids.
    }
    return this.summary;
  }

  [Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    if (this.iterated) throw new InvalidArgumentError("a Generation can be read once; keep the chunks or read generation.summary");
    this.iterated = true;
    return {
      next: () => this.next(),
      return: async () => {
        if (this.state === "running") this.cancel();
        this.chunks.length = 0;
        return { done: true, value: undefined };
      },
    };
  }

  private async next(): Promise<IteratorResult<GenerationChunk>> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) return { done: false, value: chunk };
      if (this.state === "finished") return { done: true, value: undefined };
      if (this.state === "failed") throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
