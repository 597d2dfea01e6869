// What every `restem` command group shares: where it writes (CommandIo), and the parsers for
// numeric options. Each parser throws commander's InvalidArgumentError, which commander reports
// as "option '--x <n>' argument 'y' is invalid. must be ...", and the CLI exits with status 2.
import { InvalidArgumentError } from "commander";

/** Where a command group writes its output and its exit status (the process, or a test's capture). */
export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  setExitCode: (code: number) => void;
}

/** An integer >= min. */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (value.trim() === "" || !Number.isInteger(parsed) || parsed < min) {
      throw new InvalidArgumentError(min === 1 ? "must be a positive integer" : `must be an integer >= ${min}`);
    }
    return parsed;
  };
}

/** A finite number in [min, max], described by label in the error ("a number in [0, 1]"). */
export function numberIn(min: number, max: number, label: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (value.trim() === "" || !Number.isFinite(parsed) || parsed < min || parsed > max) throw new InvalidArgumentError(`must be ${label}`);
    return parsed;
  };
}

export const positiveInteger = integerAtLeast(1);

/** A finite number > 0. */
export function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === "" || !Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError("must be a positive number");
  return parsed;
}
