/**
 * @lcc/evaluation: fidelity of compiled memories against equal-budget baselines
 * (last K tokens, every r-th token, most surprising tokens, mean-pooled KV), no context
 * and full context.
 */

export * from "./baselines.js";
export * from "./fidelity.js";
