import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** Version of the @lcc/server package; memories compiled by the server record it as their producer version. */
export const VERSION: string = (require("../package.json") as { version: string }).version;
