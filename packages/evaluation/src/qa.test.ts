import { readFile } from "node:fs/promises";
import { builtInQueryPool } from "@lcc/compiler";
import { LanguageModel, type ResolvedModel, generateTokens, loadModel } from "@lcc/models";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baselinePrefix } from "./baselines.js";
import { ChatJudge } from "./judge.js";
import { DEFAULT_QA_PROMPT, generateAnswer, questionPrompt } from "./qa.js";
import { scoreAnswer } from "./qa-scoring.js";
import { runQaSuite } from "./suite.js";
import { type MockChatServer, completionBody, startMockChatServer } from "./test/mock-chat-server.js";
import { sharedPath } from "./test/shared.js";

describe("question answering with stories260K", () => {
  let resolved: ResolvedModel;
  let reader: LanguageModel;
  let reference: string;

  beforeAll(async () => {
    resolved = await loadModel(sharedPath("models", "stories260K"));
    reader = new LanguageModel(resolved.model, { cacheDir: null });
    reference = await readFile(sharedPath("cases", "stories260K-greedy200.txt"), "utf8");
  });

  afterAll(async () => {
    await reader?.dispose();
  });

  it("answers with the first line of the reference greedy text", async () => {
    const answer = await generateAnswer(reader, resolved.tokenizer, null, [resolved.model.config.bosTokenId], 200);
    const firstLine = (reference.split("\n")[0] as string).trim();
    expect(answer?.text).toBe(firstLine);
    // Generation stops at the token that starts the second line, before the token budget.
    expect(answer?.tokens).toBeLessThan(200);
    expect(answer?.tokens).toBeGreaterThan(10);
  });

  it("reads a prefix cache like prompt tokens", async () => {
    const { tokenizer, model } = resolved;
    const context = tokenizer.encode("Tom had a red kite. He flew it in the park with his dad.", { addBos: true });
    const prompt = tokenizer.encode(questionPrompt(DEFAULT_QA_PROMPT, "What did Tom fly?"), { addBos: false });
    const prefix = await baselinePrefix(reader, "full", context, 1, 16);
    const fromCache = await generateAnswer(reader, tokenizer, prefix, prompt, 12);
    const inline = await generateAnswer(reader, tokenizer, null, [...context, ...prompt], 12);
    expect(fromCache).toEqual(inline);
    expect(model.config.maxPositions).toBe(512);
  });

  it("caps the answer at the model's window and returns null when the prompt fills it", async () => {
    const { model, tokenizer } = resolved;
    const window = model.config.maxPositions;
    const filler = Array.from({ length: window }, () => tokenizer.encode("the", { addBos: false })[0] as number);
    expect(await generateAnswer(reader, tokenizer, null, filler, 5)).toBeNull();
    const oneLeft = await generateAnswer(reader, tokenizer, null, filler.slice(0, window - 1), 5);
    expect(oneLeft?.tokens).toBe(1);
  });

  describe("runQaSuite", () => {
    let server: MockChatServer;

    beforeAll(async () => {
      server = await startMockChatServer([], { status: 200, body: completionBody("INCORRECT") });
    });

    afterAll(async () => {
      await server?.close();
    });

    it("answers from memory at each ratio and from full and no context once", async () => {
      const { model, tokenizer } = resolved;
      const pool = builtInQueryPool("story-openings").map((text) => tokenizer.encode(text, { addBos: false }));
      const record = {
        id: "kite",
        line: 1,
        context: "Tom had a red kite. He flew it in the park with his dad. The wind was strong and the kite went very high.",
        question: "What colour was the kite?",
        answers: ["red"],
      };
      const short = { id: "short", line: 2, context: "Hi.", question: "Who?", answers: ["me"] };
      const events: string[] = [];
      const result = await runQaSuite({
        model,
        reader,
        tokenizer,
        records: [record, short],
        ratios: [4, 8],
        variants: { memory: { steps: 1, queries: 1, answerTokens: 4 } },
        queryPool: pool,
        maxAnswerTokens: 8,
        judge: new ChatJudge({ url: server.baseUrl, model: "judge" }),
        onProgress: (event) => events.push(event.type === "compile" ? `compile:${event.event.type}` : event.type),
      });

      expect(result.prefixes).toEqual(["memory", "none", "full"]);
      expect(result.skipped).toEqual([
        { id: "short", line: 2, reason: expect.stringMatching(/^its context has \d tokens, fewer than the ratio 8$/) },
      ]);
      expect(result.ratios.map((entry) => entry.ratio)).toEqual([4, 8]);
      const [at4, at8] = result.ratios.map((entry) => entry.records[0]!);
      const contextTokens = tokenizer.encode(record.context, { addBos: false }).length;
      expect(at4?.contextTokens).toBe(contextTokens);
      expect(at4?.bufferTokens).toBe(Math.ceil(contextTokens / 4));
      expect(at8?.bufferTokens).toBe(Math.ceil(contextTokens / 8));

      // The no-context answer is the greedy continuation of [BOS] + prompt.
      const promptIds = tokenizer.encode(questionPrompt(DEFAULT_QA_PROMPT, record.question), { addBos: false });
      const ids: number[] = [];
      for await (const token of generateTokens(reader, [model.config.bosTokenId, ...promptIds], { maxTokens: 8 })) ids.push(token.id);
      const expectedNone = tokenizer.decode(ids).trimStart().split("\n")[0]?.trim();
      expect(at4?.predictions.none?.text).toBe(expectedNone);
      expect(at8?.predictions.none).toEqual(at4?.predictions.none);
      expect(at8?.predictions.full).toEqual(at4?.predictions.full);

      // Scores follow the scoring functions. The judge graded the memory answer at each ratio and the other two once.
      for (const entry of [at4, at8]) {
        for (const prediction of Object.values(entry?.predictions ?? {})) {
          expect(prediction).not.toBeNull();
          const { exactMatch, f1 } = scoreAnswer(prediction?.text ?? "", record.answers);
          expect(prediction?.exactMatch).toBe(exactMatch);
          expect(prediction?.f1).toBe(f1);
          expect(prediction?.judge).toEqual({ correct: false, reply: "INCORRECT", attempts: 1 });
        }
      }
      expect(server.requests).toHaveLength(4);
      expect(result.ratios[0]?.summary.memory?.judgeAccuracy).toBe(0);
      expect(result.summary.metrics.f1?.full).toEqual([at4?.predictions.full?.f1, at4?.predictions.full?.f1]);

      expect(events[0]).toBe("skipped");
      expect(events.filter((type) => type === "record")).toHaveLength(2);
      expect(events.filter((type) => type === "compile:step")).toHaveLength(2);
      expect(events.at(-1)).toBe("record-done");
    });
  });
});
