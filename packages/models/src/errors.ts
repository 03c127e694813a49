/**
 * Errors raised while loading and running models.
 */

import { LccError } from "@lcc/tensor";

/** A checkpoint, weight file or model folder is missing, truncated or inconsistent. */
export class ModelLoadError extends LccError {}

/** A config.json is invalid or describes an architecture lcc does not support. */
export class UnsupportedModelError extends LccError {}

/** A tokenizer file is missing or invalid. */
export class TokenizerError extends LccError {}

/** A prompt or token sequence does not fit the model's context window. */
export class ContextLengthError extends LccError {}

/** A token id lies outside the model's vocabulary. */
export class TokenIdError extends LccError {}
