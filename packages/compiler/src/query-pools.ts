/**
 * Query pools: the context-agnostic queries from which the compiler draws its
 * regularisation samples. Two pools are built in, both written for lcc: generic
 * instructions for chat models and story openings for base story models. Users may give
 * their own pool as a JSONL file with one {"instruction": "..."} object per line, and
 * plugins add named pools with registerQueryPool.
 */

import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "@lcc/tensor";
import { QueryPoolError } from "./errors.js";

// ---------------------------------------------------------------- built-in pools

/**
 * Generic instructions for chat models: writing, reasoning, coding, everyday advice,
 * definitions and lists. Each one is self-contained and never refers to a context.
 */
export const GENERIC_INSTRUCTIONS: readonly string[] = Object.freeze([
  // Writing
  "Write a short poem about the first snowfall of winter.",
  "Draft a polite email asking a neighbour to keep their dog off the lawn.",
  "Write a two-sentence horror story set in a library.",
  "Compose a haiku about a busy train station at dawn.",
  "Write a thank-you note to a teacher who helped you learn to read.",
  "Describe a thunderstorm from the point of view of a cat.",
  "Write a product description for a reusable water bottle.",
  "Suggest five names for a small bakery that sells sourdough bread.",
  "Write an opening line for a mystery novel set on a cargo ship.",
  'Rewrite the sentence "the meeting got moved" in a formal tone.',
  "Write a limerick about a forgetful robot.",
  "Write a short toast for a friend's wedding.",
  "Give three tips for writing clear emails at work.",
  "Write the first paragraph of a cover letter for a junior software developer job.",
  "Write a short bedtime story about a brave little cloud.",
  "Write a dialogue between a barista and a customer who cannot decide what to order.",
  "Write a riddle whose answer is a shadow.",
  "Describe the taste of a lemon to someone who has never had one.",

  // Reasoning and arithmetic
  "A train leaves at 3:40 pm and the trip takes 95 minutes. When does it arrive?",
  "Explain why the sum of two odd numbers is always even.",
  "A shirt costs $40 after a 20% discount. What was the original price?",
  "How many minutes are there in a week? Show your working.",
  "Solve for x: 3x + 7 = 22.",
  "What is the next number in the sequence 2, 6, 12, 20, 30?",
  "Is 221 a prime number? Explain how you checked.",
  "Explain the Monty Hall problem in simple terms.",
  "Estimate how many tennis balls fit inside a car, and state your assumptions.",
  "Compare the pros and cons of renting versus buying a home.",
  "Which is heavier, a kilogram of feathers or a kilogram of iron, and why?",
  "Convert 72 degrees Fahrenheit to Celsius.",
  "What is 15% of 260?",
  "If three painters paint a fence in six hours, how long would two painters take?",
  "Argue for and against school uniforms in two short paragraphs.",

  // Coding
  "Write a Python function that checks whether a string is a palindrome.",
  "Explain the difference between a list and a tuple in Python.",
  "Write a SQL query that returns the ten most recent rows of an orders table.",
  "What does git rebase do, and when should you avoid it?",
  "Write a JavaScript function that removes duplicate values from an array.",
  "Explain what a race condition is, with a simple example.",
  "How do I reverse a singly linked list in place?",
  "Write a regular expression that matches a five-digit postal code.",
  "Explain the difference between TCP and UDP.",
  "What is Big O notation? Give three common examples.",
  "Write a shell command that counts the lines of every .txt file in a folder.",
  "Explain recursion to someone who has never programmed.",
  "Write a unit test for a function that adds two numbers.",
  "What is the difference between a process and a thread?",
  "How does a hash table handle collisions?",
  "Explain what an API is, using a restaurant as an analogy.",

  // Everyday advice
  "How can I keep a basil plant alive indoors?",
  "Suggest a simple weekly cleaning routine for a small apartment.",
  "What should I pack for a three-day hiking trip?",
  "Give me tips for falling asleep faster.",
  "How do I remove a coffee stain from a white shirt?",
  "Plan a cheap vegetarian dinner for four people.",
  "How can I prepare for a job interview in one evening?",
  "What are good ways to save money on groceries?",
  "How do I politely decline an invitation to a party?",
  "Suggest a ten-minute stretching routine for people who sit at a desk all day.",
  "How often should I water a cactus?",
  "How can I stay focused while studying at home?",
  "How do I fix a flat bicycle tire?",
  "Give me a recipe for pancakes without eggs.",
  "What should I check before buying a used car?",
  "How can I start small talk with new coworkers?",
  "What questions should I ask a doctor before a minor surgery?",
  "Plan a one-day sightseeing trip in a city you like.",
  "Suggest a workout plan for a beginner with twenty minutes a day.",
  "What are three signs that a website might be a scam?",

  // Definitions and explanations
  "Define photosynthesis in one sentence.",
  "What is inflation, and why does it matter to people with savings?",
  "Explain what a black hole is to a ten-year-old.",
  'What does the word "serendipity" mean? Use it in a sentence.',
  "What is the difference between weather and climate?",
  "Explain how vaccines train the immune system.",
  "Explain what a metaphor is and give two examples.",
  'Define "opportunity cost" with an everyday example.',
  "What causes the seasons on Earth?",
  "What is machine learning, in plain language?",
  "Why is the sky blue?",
  "What is the difference between an acid and a base?",
  "Explain compound interest with a small numeric example.",
  "What does a central bank do?",
  "How do noise-cancelling headphones work?",
  "Describe the water cycle in four steps.",
  "Explain the difference between a virus and a bacterium.",
  'Explain the difference between "affect" and "effect".',
  "What are the health benefits of walking every day?",

  // Lists
  "List five fruits that are high in vitamin C.",
  "Name seven countries in South America and their capitals.",
  "List ten English verbs that are irregular in the past tense.",
  "Give five ideas for a rainy day at home with children.",
  "List the planets of the solar system in order from the Sun.",
  "Name six board games that are fun for two players.",
  "List four renewable sources of energy and one drawback of each.",
  "Give eight icebreaker questions for a team meeting.",
  "List the primary colours of paint and explain how they mix.",
  "Name five famous bridges and the cities they are in.",
  "Recommend three classic novels for teenagers, with one reason each.",
  'Give five synonyms for the word "happy".',

  // Language and miscellany
  'Translate "Where is the train station?" into Spanish and French.',
  'Correct the grammar: "Me and him goes to the store yesterday."',
  "Summarise the plot of Romeo and Juliet in three sentences.",
  "Tell me a joke about mathematicians.",
  "Suggest a name for a grey kitten with white paws.",
  "Create a three-question quiz about the human heart, with answers.",
  "Give me a motivational quote and explain what it means.",
  "Explain the basic rules of chess in under 100 words.",
  "Describe how to fold a paper airplane, step by step.",
]);

/**
 * Story openings for base story models such as stories260K, in the plain style of
 * children's stories. Each one breaks off mid-sentence so that the model continues it.
 */
export const STORY_OPENINGS: readonly string[] = Object.freeze([
  "One sunny morning, a little rabbit named Pip",
  "Ben had a red kite that he loved more than",
  "In a small house at the edge of the woods, there lived",
  "Lucy and her mom went to the market to buy",
  "There was once a tiny snail who wanted to",
  "The big brown dog barked at the",
  "Every night, Sam looked out of his window at the",
  "Anna found a shiny blue stone under",
  "Deep in the forest, an old owl",
  "On a cold winter day, two friends built",
  "Max the puppy did not like baths, so",
  "Grandpa took Lily to the lake to",
  "A little bird fell out of its nest and",
  "Tim wanted to be the fastest runner in his",
  "Near a quiet pond, a green frog named Fred",
  "It was Mia's birthday, and she woke up",
  "The sun was hot, so Jack and Zoe",
  "Once, in a busy town, a kind baker",
  "Sara had a doll with yellow hair that",
  "After school, Leo ran home because",
  "Mom gave Ella a box with a bow on top and",
  "The farmer had a cow named Daisy who",
  "Early in the spring, the flowers in the garden",
  "Little Tom was scared of the dark, so his dad",
  "Kitty the cat saw a mouse run under the",
  "When the rain stopped, Nina put on her boots and",
  "Two squirrels found a big acorn and",
  "In the toy box, a wooden soldier",
  "Spot the dog dug a hole in the yard and found",
  "Amy and her brother wanted to make a cake for",
  "At the beach, a small crab",
  "Joe had a new bike, and he wanted to",
  "High up in a tall tree, a monkey",
  "Rosie liked to sing songs to her",
  "A bear woke up from his long sleep and felt",
  "Lisa lost her teddy bear at the park, and",
  "Under the sea, a shy fish named Bubbles",
  "Dan's grandma knitted him a warm hat that",
  "Far away, on a farm with many animals, a",
  "A tiny ant carried a crumb that was",
  "Kate saw a rainbow after the storm and",
  "Billy the goat wanted to cross the bridge, but",
  "Emma had a secret that she did not want to",
  "Jim and his dad went fishing on a",
  "A little girl named Sue planted a seed in",
  "Poppy the pony lived in a red barn with",
  "Before bed, Mom read Noah a story about",
  "Lily wanted a puppy more than anything, so she",
  "In the middle of the night, Tom heard a",
  "Jenny and Ben played hide and seek in the",
  "A brave little mouse named Gus",
  "Every morning, the rooster crowed and",
  "Ollie found a map in his grandpa's attic that",
  "It was a windy day, and Meg's hat",
  "A baby elephant could not find his mom, so he",
  "The children at school made paper boats and",
  "Fluffy the kitten climbed up the curtains and",
  "Pete was a pig who loved to roll in",
  "One rainy afternoon, Maya and her friend",
  "The queen had a golden crown, but she",
  "A yellow butterfly landed on Anna's nose and",
  "Mr. Brown had a shop full of toys, and",
  "On the way to school, Ryan saw a",
  "A lonely robot lived in a junkyard and",
  "Bella the bunny had very long ears that",
  "At the zoo, Tom saw a giraffe eat",
  "Dad made pancakes for breakfast, but",
  "A little star fell from the sky and landed",
  "Molly wanted to help her mom in the kitchen, so",
  "The dragon was big and green, but he was",
  "Jake and his dog Rex went for a walk in",
  "The first snow fell, and Lily ran outside to",
  "Grandma Rose baked cookies every Sunday for",
  "Henry had a loose tooth, and he",
  "The little tree on the hill was sad because",
  "Zoe's balloon flew up into the sky, and she",
  "A hungry fox saw a basket of apples on a",
  "It was time for bed, but Timmy did not want to",
  "Sophie made a card for her best friend because",
  "The ducklings followed their mother down to",
  "Mark built a tall tower of blocks, and then",
  "When the circus came to town, Ellie",
  "Ruby and her grandpa flew a kite on",
  "Once upon a time, a little cloud wanted to",
  "Jack found a tiny kitten in a box by",
  "The bees were busy making honey when",
  "Ava was learning to swim, and she was",
  "Inside a hollow log, a family of mice",
  "Sunny the sunflower grew taller than the",
  "Finn and Lucy went to the library to find",
  "A brown horse galloped across the field to",
  "Paul wanted to win the race at the fair, so",
  "The lights went out during the storm, and",
  "Hannah's cat liked to sleep in the",
  "Little Bo found a feather on the path and",
  "Chloe wanted to bake bread with her grandma, but",
  "Down by the river, a beaver was building",
  "Our class had a pet hamster called Nibbles who",
  "Yesterday, Kim saw a big truck full of",
  "Peter's boat was small and blue, and",
  "Snowflake the white cat did not like",
  "Ted and Pam shared a big red apple under",
  "Quick as a flash, the little squirrel",
  "Very early one morning, a sleepy lion",
  "Wendy the witch had a broom that would not",
]);

// ---------------------------------------------------------------- pool names

/** Names of the built-in pools. */
export type QueryPoolName = "instructions" | "story-openings";

/** Every built-in pool name, in the order they are documented. */
export const QUERY_POOL_NAMES: readonly QueryPoolName[] = Object.freeze(["instructions", "story-openings"]);

/** Returns the built-in pool with this name. */
export function builtInQueryPool(name: QueryPoolName): readonly string[] {
  if (name === "instructions") return GENERIC_INSTRUCTIONS;
  if (name === "story-openings") return STORY_OPENINGS;
  throw new InvalidArgumentError(
    `unknown built-in query pool ${JSON.stringify(name)}; use ${QUERY_POOL_NAMES.map((pool) => `"${pool}"`).join(" or ")}, or give a JSONL file`,
  );
}

/**
 * Returns the name of the pool to use when none is given: instructions for a model with a
 * chat template, story openings for a base model that only continues text.
 */
export function defaultQueryPoolFor(modelHasChatTemplate: boolean): QueryPoolName {
  if (typeof modelHasChatTemplate !== "boolean") {
    throw new InvalidArgumentError(`modelHasChatTemplate must be true or false, got ${String(modelHasChatTemplate)}`);
  }
  return modelHasChatTemplate ? "instructions" : "story-openings";
}

// ---------------------------------------------------------------- JSONL files

/**
 * Reads a user query pool: a UTF-8 JSONL file with one {"instruction": "..."} object per
 * line. Blank lines are skipped and keys other than "instruction" are ignored. Every
 * invalid line is reported, with its line number, in one QueryPoolError. A missing,
 * unreadable or empty file also raises QueryPoolError.
 */
export async function loadQueryPoolFile(path: string): Promise<string[]> {
  if (typeof path !== "string" || path.length === 0) {
    throw new InvalidArgumentError(`the query pool path must be a non-empty string, got ${JSON.stringify(path)}`);
  }

  // Read the file, telling a missing file apart from other read failures.
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === "ENOENT"
        ? `query pool file not found: ${path}; check the path, use a named pool (${listQueryPools().join(", ")}), or load the plugin that adds the pool`
        : `could not read query pool file ${path}: ${(error as Error).message}`;
    throw new QueryPoolError(message, { cause: error, details: { path } });
  }

  // Parse every non-blank line and collect the problems of all lines.
  const instructions: string[] = [];
  const problems: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((line, index) => {
    if (line.trim().length === 0) return;
    const parsed = parseLine(line);
    if (typeof parsed === "string") instructions.push(parsed);
    else problems.push(`line ${index + 1}: ${parsed.problem}`);
  });

  if (problems.length > 0) {
    throw new QueryPoolError(
      `invalid query pool file ${path} (${problems.length} of ${problems.length + instructions.length} entries): ` +
        `each line must be a JSON object like {"instruction": "Explain recursion."}\n  ${problems.join("\n  ")}`,
      { details: { path, problems } },
    );
  }
  if (instructions.length === 0) {
    throw new QueryPoolError(`query pool file ${path} has no entries; write one {"instruction": "..."} object per line`, { details: { path } });
  }
  return instructions;
}

/** Returns the instruction of one JSONL line, or the problem with it. */
function parseLine(line: string): string | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { problem: `invalid JSON (${(error as Error).message})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { problem: `expected a JSON object, got ${describeJson(value)}` };
  }
  if (!("instruction" in value)) {
    return { problem: 'missing "instruction"' };
  }
  const instruction = (value as { instruction: unknown }).instruction;
  if (typeof instruction !== "string") {
    return { problem: `"instruction" must be a string, got ${describeJson(instruction)}` };
  }
  if (instruction.trim().length === 0) {
    return { problem: '"instruction" is empty' };
  }
  return instruction;
}

function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

// ---------------------------------------------------------------- registered pools

/** Returns a pool's entries on demand, for pools that read a file or build their entries. */
export type QueryPoolLoader = () => readonly string[] | Promise<readonly string[]>;

interface RegisteredPool {
  readonly source: readonly string[] | QueryPoolLoader;
  /** The checked entries, once a loader ran. */
  loaded?: Promise<readonly string[]>;
}

const registeredPools = new Map<string, RegisteredPool>();

/** Lowercase words of letters and digits joined by single hyphens, e.g. "fables" or "news-questions". */
const POOL_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Lists what is wrong with a pool's entries; an empty list means they are usable. */
function poolEntryProblems(entries: unknown): string[] {
  if (!Array.isArray(entries)) return [`the entries must be an array of strings, got ${describeJson(entries)}`];
  if (entries.length === 0) return ["the pool has no entries"];
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    if (typeof entry !== "string") problems.push(`entry ${index} must be a string, got ${describeJson(entry)}`);
    else if (entry.trim().length === 0) problems.push(`entry ${index} is empty`);
  });
  return problems;
}

/**
 * Adds a query pool under `name`, given as its entries or as a loader that returns them
 * on first use. Names follow the loss naming rule (e.g. "fables") and must not be taken
 * by a built-in or a registered pool. Entries given directly are checked now and a
 * loader's entries when it runs, each failure raising QueryPoolError.
 */
export function registerQueryPool(name: string, source: readonly string[] | QueryPoolLoader): void {
  if (typeof name !== "string" || !POOL_NAME.test(name)) {
    throw new InvalidArgumentError(`a query pool name must be lowercase words of letters and digits joined by '-' (e.g. "fables"), got ${JSON.stringify(name)}`);
  }
  if ((QUERY_POOL_NAMES as readonly string[]).includes(name) || registeredPools.has(name)) {
    const kind = registeredPools.has(name) ? "a registered" : "a built-in";
    throw new InvalidArgumentError(`query pool "${name}" is already ${kind} pool; choose another name`, { details: { name } });
  }
  if (typeof source !== "function") {
    const problems = poolEntryProblems(source);
    if (problems.length > 0) throw new QueryPoolError(`invalid query pool "${name}": ${problems.join("; ")}`, { details: { name, problems } });
    registeredPools.set(name, { source: Object.freeze([...source]) });
    return;
  }
  registeredPools.set(name, { source });
}

/** Returns whether `name` is a built-in or registered pool, as opposed to a file path. */
export function hasQueryPool(name: string): boolean {
  return (QUERY_POOL_NAMES as readonly string[]).includes(name) || registeredPools.has(name);
}

/** Names of every pool: the built-in ones, then the registered ones in registration order. */
export function listQueryPools(): string[] {
  return [...QUERY_POOL_NAMES, ...registeredPools.keys()];
}

/**
 * Returns the entries of a built-in or registered pool. Throws QueryPoolError for an
 * unknown name, listing the known ones, or when a loader fails or returns invalid entries.
 */
export async function getQueryPool(name: string): Promise<readonly string[]> {
  if ((QUERY_POOL_NAMES as readonly string[]).includes(name)) return builtInQueryPool(name as QueryPoolName);
  const pool = registeredPools.get(name);
  if (pool === undefined) {
    throw new QueryPoolError(
      `unknown query pool ${JSON.stringify(name)}; known pools: ${listQueryPools().join(", ")}. Give a JSONL file, or load the plugin that adds the pool`,
      { details: { name } },
    );
  }
  if (typeof pool.source !== "function") return pool.source;
  // A failed load is forgotten, so that the next call runs the loader again.
  pool.loaded ??= runLoader(name, pool.source).catch((error: unknown) => {
    pool.loaded = undefined;
    throw error;
  });
  return pool.loaded;
}

async function runLoader(name: string, loader: QueryPoolLoader): Promise<readonly string[]> {
  let entries: unknown;
  try {
    entries = await loader();
  } catch (error) {
    throw new QueryPoolError(`the loader of query pool "${name}" failed: ${(error as Error).message}`, { cause: error, details: { name } });
  }
  const problems = poolEntryProblems(entries);
  if (problems.length > 0) throw new QueryPoolError(`the loader of query pool "${name}" returned invalid entries: ${problems.join("; ")}`, { details: { name, problems } });
  return Object.freeze([...(entries as string[])]);
}
