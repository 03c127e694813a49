/**
 * The text of memory.proto, read once from the copy at the package root, which ships in
 * the published package. It is the single source of the schema.
 */

import { readFileSync } from "node:fs";

// From src/ (tests) and from dist/ (the build) alike, the package root is one folder up.
export const MEMORY_PROTO_SOURCE: string = readFileSync(new URL("../memory.proto", import.meta.url), "utf8");
