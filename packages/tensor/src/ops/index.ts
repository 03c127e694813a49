/** Operator definitions and their builder functions. */
export * from "./elementwise.js";
export * from "./linalg.js";
export * from "./shape.js";
