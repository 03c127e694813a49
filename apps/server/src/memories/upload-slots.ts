/**
 * The bound on memory uploads in progress. An upload is buffered whole before its memory
 * is decoded, so parallel uploads without a bound could take any amount of memory. With
 * the bound they take at most about `limit` times the upload limit.
 */

import { ApiError } from "../api-error.js";

export class UploadSlots {
  private slotsInUse = 0;

  constructor(readonly limit: number) {}

  /** Uploads being received or processed now. */
  get inProgress(): number {
    return this.slotsInUse;
  }

  /**
   * Takes a slot and returns the function that frees it (calling it again does nothing).
   * Throws a 429 ApiError when all `limit` slots are taken.
   */
  take(): () => void {
    if (this.slotsInUse >= this.limit) {
      throw new ApiError(
        `${this.slotsInUse} memory uploads are in progress, the maximum this server accepts at once (maxConcurrentUploads ${this.limit}); retry when one has finished`,
        { status: 429, type: "rate_limit_error", code: "too_many_uploads", headers: { "retry-after": "1" } },
      );
    }
    this.slotsInUse++;
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      this.slotsInUse--;
    };
  }
}
