/** Shared fixtures (models, data, reference cases) for this package's tests. */
export { sharedPath } from "@lcc/test-fixtures";
