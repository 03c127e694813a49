/**
 * @lcc/compiler: the LoRA compiler that turns a context into a small key/value memory
 * of a frozen base model (teacher cache, encoder and reader passes, AdamW, segmenting).
 */

export * from "./options.js";
export * from "./errors.js";
export * from "./progress.js";
export * from "./compile.js";
export * from "./compile-context.js";
export * from "./memory-cache.js";
export * from "./teacher.js";
export * from "./lora.js";
export * from "./optimizer.js";
export * from "./step-graph.js";
export * from "./artifact.js";
export * from "./query-pools.js";
