/**
 * Errors raised by the evaluation harness. Problems in a data file raise FileFormatError
 * from @lcc/tensor.
 */

import { LccError } from "@lcc/tensor";

/** The LLM judge could not be reached or returned a reply that is not a chat completion. */
export class JudgeError extends LccError {}
