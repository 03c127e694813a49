#!/usr/bin/env node
/**
 * The `lcc` command-line tool.
 */

import { createProgram, runProgram } from "./program.js";

process.exitCode = await runProgram(createProgram(), process.argv);
