import { describe, expect, it } from "vitest";
import { StopStringMatcher } from "./stop.js";

/** Pushes each piece and returns the released texts, the stop found and the flushed rest. */
function run(stops: string[], pieces: string[]): { released: string[]; stop: string | null; rest: string } {
  const matcher = new StopStringMatcher(stops);
  const released: string[] = [];
  for (const piece of pieces) {
    const match = matcher.push(piece);
    released.push(match.text);
    if (match.stop !== null) return { released, stop: match.stop, rest: matcher.flush() };
  }
  return { released, stop: null, rest: matcher.flush() };
}

describe("StopStringMatcher", () => {
  it("releases text with no stop string at once", () => {
    expect(run(["END"], ["Once", " upon", " a time"])).toEqual({ released: ["Once", " upon", " a time"], stop: null, rest: "" });
  });

  it("finds a stop string inside one piece", () => {
    expect(run(["."], ["He ran. She sat"])).toEqual({ released: ["He ran"], stop: ".", rest: "" });
  });

  it("finds a stop string spread over three pieces", () => {
    const result = run(["The end"], ["They played. Th", "e e", "nd of it"]);
    expect(result.stop).toBe("The end");
    expect(result.released).toEqual(["They played. ", "", ""]);
    expect(result.released.join("")).toBe("They played. ");
  });

  it("holds back a possible start and releases it when it diverges", () => {
    const result = run(["\n\n"], ["line one\n", "line two"]);
    expect(result.released).toEqual(["line one", "\nline two"]);
    expect(result.stop).toBeNull();
  });

  it("releases held-back text on flush", () => {
    expect(run(["cat dog"], ["a big cat"])).toEqual({ released: ["a big "], stop: null, rest: "cat" });
  });

  it("picks the earliest of several stop strings", () => {
    expect(run(["dog", "cat"], ["the cat and the dog"]).stop).toBe("cat");
    expect(run(["ab", "abc"], ["xxabc"]).stop).toBe("abc");
  });

  it("returns nothing after a stop", () => {
    const matcher = new StopStringMatcher(["!"]);
    expect(matcher.push("hi! more")).toEqual({ text: "hi", stop: "!" });
    expect(matcher.push("more")).toEqual({ text: "", stop: null });
    expect(matcher.flush()).toBe("");
  });
});
