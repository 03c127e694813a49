/**
 * @lcc/losses: token-level losses as graph pieces (cross-entropy, forward KL against
 * full or top-k teacher distributions, masked means) and the registry plugins add to.
 */

export * from "./token-losses.js";
export * from "./registry.js";
