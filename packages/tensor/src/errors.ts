/**
 * Typed errors shared by every lcc package.
 *
 * Each error carries a `Symbol.for` marker so that `isInstance` works across two
 * copies of this package in one process (for example a CLI and a plugin that each
 * bundle their own).
 */

const MARKER = Symbol.for("lcc.error");

/** Base class of every error that lcc raises on purpose. */
export class LccError extends Error {
  readonly [MARKER] = true;
  /** Extra context for callers that handle the error programmatically. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  static isInstance(error: unknown): error is LccError {
    return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }
}

/** An argument of a public function is invalid (wrong type, range or shape). */
export class InvalidArgumentError extends LccError {}

/** Shapes or dtypes of tensors or graph values do not agree. */
export class ShapeError extends LccError {}

/** A graph could not be built, serialised or run. */
export class GraphError extends LccError {}

/** The inputs given to a session do not match the graph's declared inputs. */
export class SessionInputError extends LccError {}

/** A file could not be read or has an invalid layout. */
export class FileFormatError extends LccError {}

/** Reverse-mode differentiation reached an operator that has no vector-Jacobian rule. */
export class MissingGradientError extends GraphError {}
