import { describe, expect, it } from "vitest";
import { toApiNames } from "./option-names.js";

describe("toApiNames", () => {
  it("renames a leading compiler option", () => {
    expect(toApiNames("loraTargets lists q more than once; give each projection once")).toEqual({
      message: "options.lora_targets lists q more than once; give each projection once",
      option: "lora_targets",
    });
  });

  it("renames CLI flags of compile options", () => {
    expect(toApiNames("the loss became NaN at step 3; consider a lower --learning-rate or --clip-norm 1")).toEqual({
      message: "the loss became NaN at step 3; consider a lower options.learning_rate or options.clip_norm 1",
      option: null,
    });
    expect(toApiNames("a segment exceeds the window; lower --segment-tokens").message).toBe(
      "a segment exceeds the window; lower options.segment_tokens",
    );
  });

  it("keeps flags that are not compile options", () => {
    expect(toApiNames("start the server with --memory-dir").message).toBe("start the server with --memory-dir");
  });

  it("does not take Object properties for options", () => {
    expect(toApiNames("constructor must be a function").option).toBeNull();
  });
});
