import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** Version of the @lcc/cli package. */
export const VERSION: string = (require("../package.json") as { version: string }).version;
