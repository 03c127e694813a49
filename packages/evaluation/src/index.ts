/**
 * @lcc/evaluation: fidelity of compiled memories against equal-budget baselines
 * (last K tokens, every r-th token, most surprising tokens, mean-pooled KV), no context
 * and full context; question answering scored by exact match, token F1 and an optional
 * LLM judge; reports as JSON, Markdown, SVG and PNG.
 */

export * from "./baselines.js";
export * from "./fidelity.js";
export * from "./errors.js";
export * from "./data.js";
export * from "./qa-scoring.js";
export * from "./qa.js";
export * from "./judge.js";
export * from "./suite.js";
export * from "./report.js";
export * from "./plot.js";
export * from "./raster.js";
export * from "./png.js";
