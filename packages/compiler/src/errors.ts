/**
 * Errors raised by the compiler.
 */

import { LccError } from "@lcc/tensor";

/** The context given to compile is unusable (empty, too short for the ratio). */
export class CompileInputError extends LccError {}

/** The loss stopped being finite; nothing was written. */
export class CompileDivergedError extends LccError {}

/** The compilation was cancelled through its AbortSignal. */
export class CompileAbortedError extends LccError {}

/** A query pool file is missing or invalid. */
export class QueryPoolError extends LccError {}
