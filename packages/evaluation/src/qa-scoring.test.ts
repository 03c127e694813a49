import { describe, expect, it } from "vitest";
import { answerTokens, exactMatch, normaliseAnswer, scoreAnswer, tokenF1 } from "./qa-scoring.js";

describe("normaliseAnswer", () => {
  it.each([
    ["The Eiffel Tower", "eiffel tower"],
    ["  a   red\tball \n", "red ball"],
    ["An apple, an orange.", "apple orange"],
    ["Lily's dog!", "lilys dog"],
    ["the", ""],
    ["theatre", "theatre"],
    ["Anna and THE cat", "anna and cat"],
    ["$1,000 (approx.)", "1000 approx"],
    ["“Quoted” — text…", "quoted text"],
    ["", ""],
  ])("%j -> %j", (input, expected) => {
    expect(normaliseAnswer(input)).toBe(expected);
  });

  it("splits into tokens after normalising", () => {
    expect(answerTokens("The cat, the hat.")).toEqual(["cat", "hat"]);
    expect(answerTokens("a an the")).toEqual([]);
  });
});

describe("exactMatch", () => {
  it("ignores case, punctuation and articles", () => {
    expect(exactMatch("The red ball.", "red ball")).toBe(1);
    expect(exactMatch("RED BALL", "a red ball")).toBe(1);
  });

  it("rejects a different or longer answer", () => {
    expect(exactMatch("red balls", "red ball")).toBe(0);
    expect(exactMatch("a big red ball", "red ball")).toBe(0);
  });
});

describe("tokenF1", () => {
  it("scores partial overlap by precision and recall", () => {
    // prediction {big, red, ball}, gold {red, ball}: shared 2, P = 2/3, R = 1, F1 = 0.8.
    expect(tokenF1("a big red ball", "the red ball")).toBeCloseTo(0.8, 12);
    // prediction {his, grandpa, and, dad}, gold {his, grandpa}: P = 1/2, R = 1, F1 = 2/3.
    expect(tokenF1("his grandpa and dad", "his grandpa")).toBeCloseTo(2 / 3, 12);
  });

  it("counts repeated tokens once per occurrence", () => {
    // prediction {dog, dog, dog}, gold {dog, cat}: shared 1, P = 1/3, R = 1/2, F1 = 0.4.
    expect(tokenF1("dog dog dog", "dog cat")).toBeCloseTo(0.4, 12);
  });

  it("returns 1 for equal answers and 0 for disjoint ones", () => {
    expect(tokenF1("Max the dog", "max dog")).toBe(1);
    expect(tokenF1("blue", "red")).toBe(0);
  });

  it("handles answers that normalise to nothing", () => {
    expect(tokenF1("the", "a")).toBe(1);
    expect(tokenF1("", "red")).toBe(0);
    expect(tokenF1("red", "...")).toBe(0);
  });
});

describe("scoreAnswer", () => {
  it("keeps the best score over gold answers", () => {
    const score = scoreAnswer("a red ball", ["blue", "red ball", "ball"]);
    expect(score.exactMatch).toBe(1);
    expect(score.f1).toBe(1);
  });

  it("takes exact match and F1 from different golds when they differ", () => {
    const score = scoreAnswer("red", ["red", "red ball"]);
    expect(score).toEqual({ exactMatch: 1, f1: 1 });
    const partial = scoreAnswer("red ball today", ["red ball", "today"]);
    expect(partial.exactMatch).toBe(0);
    // vs "red ball": P = 2/3, R = 1 -> 0.8; vs "today": P = 1/3, R = 1 -> 0.5.
    expect(partial.f1).toBeCloseTo(0.8, 12);
  });

  it("scores 0 against no gold answers", () => {
    expect(scoreAnswer("red", [])).toEqual({ exactMatch: 0, f1: 0 });
  });
});
