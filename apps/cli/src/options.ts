/**
 * Parsers for numeric command-line options, with messages that name the option.
 */

import { InvalidArgumentError } from "commander";

/** An invalid combination of options that commander cannot detect by itself. */
export class UsageError extends Error {
  override name = "UsageError";
}

export function integerOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (value.trim() === "" || !Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got "${value}".`);
    }
    return parsed;
  };
}

export function numberOption(name: string, min: number, max: number, minExclusive = false): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    const belowMin = minExclusive ? parsed <= min : parsed < min;
    if (value.trim() === "" || !Number.isFinite(parsed) || belowMin || parsed > max) {
      const range = minExclusive ? `in (${min}, ${max}]` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`${name} must be a number ${range}, got "${value}".`);
    }
    return parsed;
  };
}
