/**
 * @lcc/plugin-query-pool-fables: an example lcc plugin. It adds the query pool "fables"
 * of animal-fable openings, for compiling stories with base story models:
 *
 *   lcc --plugin @lcc/plugin-query-pool-fables compile story.txt -m stories260K -o story.lccm --query-pool fables
 */

import type { LccPlugin } from "@lcc/plugin-api";
import { FABLE_OPENINGS } from "./fables.js";

export { FABLE_OPENINGS } from "./fables.js";

/** Name of the query pool this plugin adds. */
export const FABLES_POOL = "fables";

const plugin: LccPlugin = {
  name: "@lcc/plugin-query-pool-fables",
  version: "0.1.0",
  description: 'Adds the "fables" query pool: openings of animal fables for base story models.',
  register(api) {
    api.registerQueryPool(FABLES_POOL, FABLE_OPENINGS);
  },
};

export default plugin;
