import { describe, expect, it } from "vitest";
import { QueueFullError } from "./errors.js";
import { RequestQueue } from "./request-queue.js";

describe("RequestQueue", () => {
  it("runs up to maxConcurrent and queues in arrival order", async () => {
    const queue = new RequestQueue({ maxConcurrent: 1, maxQueued: 2 });
    const first = queue.enqueue();
    const second = queue.enqueue();
    const third = queue.enqueue();
    expect(queue.stats()).toEqual({ running: 1, queued: 2 });
    expect(await first.started).toBe(true);

    const order: string[] = [];
    void second.started.then(() => order.push("second"));
    void third.started.then(() => order.push("third"));
    first.release();
    await second.started;
    expect(order).toEqual(["second"]);
    expect(queue.stats()).toEqual({ running: 1, queued: 1 });
    second.release();
    second.release(); // a second release does nothing
    expect(await third.started).toBe(true);
    third.release();
    expect(queue.stats()).toEqual({ running: 0, queued: 0 });
  });

  it("throws QueueFullError beyond maxQueued", () => {
    const queue = new RequestQueue({ maxConcurrent: 1, maxQueued: 1 });
    queue.enqueue();
    queue.enqueue();
    let error: unknown;
    try {
      queue.enqueue();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).name).toBe("QueueFullError");
    expect((error as QueueFullError).message).toMatch(/1 requests are running \(maxConcurrent 1\) and 1 are waiting \(maxQueued 1\)/);
    expect((error as QueueFullError).details).toEqual({ running: 1, queued: 1, maxConcurrent: 1, maxQueued: 1 });
  });

  it("drops a waiting request when its signal aborts", async () => {
    const queue = new RequestQueue({ maxConcurrent: 1, maxQueued: 1 });
    const running = queue.enqueue();
    const controller = new AbortController();
    const waiting = queue.enqueue(controller.signal);
    controller.abort();
    expect(await waiting.started).toBe(false);
    expect(queue.stats()).toEqual({ running: 1, queued: 0 });
    running.release();
    expect(queue.stats()).toEqual({ running: 0, queued: 0 });
  });

  it("rejects invalid limits", () => {
    expect(() => new RequestQueue({ maxConcurrent: 0, maxQueued: -1 })).toThrow(/maxConcurrent must be an integer ≥ 1, got 0; maxQueued must be an integer ≥ 0, got -1/);
  });
});
