/**
 * Command definitions of `lcc`. Each command lives in `commands/`; this file wires them
 * together and turns errors into messages and exit codes.
 */

import { LccError } from "@lcc/tensor";
import { Command, CommanderError } from "commander";
import { registerAsk } from "./commands/ask.js";
import { registerCompile } from "./commands/compile.js";
import { registerEval } from "./commands/eval.js";
import { registerGenerate } from "./commands/generate.js";
import { registerInspect } from "./commands/inspect.js";
import { registerQuickstart } from "./commands/quickstart.js";
import { registerModels } from "./commands/models.js";
import { registerServe } from "./commands/serve.js";
import { registerPlugins } from "./commands/plugins.js";
import { UsageError } from "./options.js";
import { VERSION } from "./version.js";

export function createProgram(): Command {
  const program = new Command("lcc")
    .description("Compile long LLM contexts into small, portable memories, and run models that read them.")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerPlugins(program);
  registerQuickstart(program);
  registerCompile(program);
  registerAsk(program);
  registerInspect(program);
  registerGenerate(program);
  registerModels(program);
  registerEval(program);
  registerServe(program);
  return program;
}

/** Exit code of a run cancelled with Ctrl-C, as shells report a process ended by SIGINT. */
export const CANCELLED_EXIT_CODE = 130;

/** Tells whether `error` is a file-system or network error from Node (ENOENT, EISDIR, EADDRINUSE, ...). */
function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string" && /^E[A-Z0-9]+$/.test((error as NodeJS.ErrnoException).code as string);
}

/**
 * Runs `program` and returns the process exit code: 0 success, 1 failure, 2 usage error,
 * 130 cancelled with Ctrl-C.
 */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`lcc: ${error.message}\n(run with --help for usage)\n`);
      return 2;
    }
    if (LccError.isInstance(error)) {
      process.stderr.write(`lcc: ${error.name}: ${error.message}\n`);
      return error.name === "CompileAbortedError" ? CANCELLED_EXIT_CODE : 1;
    }
    if (isSystemError(error)) {
      // Node's own messages already name the operation and the path.
      process.stderr.write(`lcc: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
