/**
 * Renders the CLI reference (docs/cli.md) from the command definitions, so that the
 * reference always matches the code. `node dist/cli-reference.js > ../../docs/cli.md`
 * regenerates it; a test fails when the committed file is stale.
 */

import type { Command, Option } from "commander";
import { createProgram } from "./program.js";

function optionLine(option: Option): string {
  const defaultValue = option.defaultValue === undefined ? "" : ` Default: \`${JSON.stringify(option.defaultValue)}\`.`;
  const choices = option.argChoices ? ` One of: ${option.argChoices.map((c) => `\`${c}\``).join(", ")}.` : "";
  return `| \`${option.flags}\` | ${option.description.replace(/\|/g, "\\|")}.${choices}${defaultValue} |`;
}

function renderCommand(command: Command, prefix: string, out: string[]): void {
  const name = `${prefix} ${command.name()}`.trim();
  const args = command.registeredArguments.map((a) => (a.required ? `<${a.name()}${a.variadic ? "..." : ""}>` : `[${a.name()}${a.variadic ? "..." : ""}]`));
  const children = command.commands;
  if (children.length === 0 || command.registeredArguments.length > 0) {
    out.push(`## \`${[name, ...args].join(" ")}\``, "", `${command.description()}`, "");
    if (command.registeredArguments.length > 0) {
      out.push("| argument | meaning |", "| --- | --- |");
      for (const argument of command.registeredArguments) out.push(`| \`${argument.name()}\` | ${argument.description} |`);
      out.push("");
    }
    const options = command.options.filter((o) => o.long !== "--help");
    if (options.length > 0) {
      out.push("| option | meaning |", "| --- | --- |", ...options.map(optionLine), "");
    }
  }
  for (const child of children) renderCommand(child, name, out);
}

export function renderCliReference(): string {
  const program = createProgram();
  const out = [
    "# CLI reference",
    "",
    "Generated from the command definitions in `apps/cli/src/commands/` by `apps/cli/src/cli-reference.ts`; do not edit by hand.",
    "Regenerate it after a build with `node apps/cli/dist/cli-reference.js > docs/cli.md`.",
    "Run `lcc <command> --help` for the same text in a terminal.",
    "",
  ];
  const globals = program.options.filter((o) => o.long !== "--help");
  if (globals.length > 0) out.push("## Global options", "", "| option | meaning |", "| --- | --- |", ...globals.map(optionLine), "");
  for (const command of program.commands) renderCommand(command, "lcc", out);
  return `${out.join("\n").trimEnd()}\n`;
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  process.stdout.write(renderCliReference());
}
