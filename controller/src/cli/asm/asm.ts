#!/usr/bin/env node
/**
 * `asm`: the command line of asm (see `asm --help`). Errors are one line and a hint on stderr,
 * never a stack trace; the exit code says what happened (see `asm run --help`).
 */
import { CommanderError } from "commander";
import { AsmError } from "@asm/shared";
import { buildProgram, type CliIo } from "./commands.js";
import { EXIT } from "./run-command.js";
import { CliError } from "./settings.js";

const MAINS = {
  controller: "../../main.js",
  executor: "@asm/executor-agent/main",
  certs: "../make-certs.js",
} as const;

const io: CliIo = {
  out: { write: (s) => void process.stdout.write(s), isTTY: process.stdout.isTTY === true },
  err: { write: (s) => void process.stderr.write(s), isTTY: process.stderr.isTTY === true },
  env: process.env,
  startProcess: async (which, args) => {
    // The process's own entry point, as if started directly with these arguments.
    process.argv = [process.argv[0]!, `asm-${which}`, ...args];
    const specifier: string = MAINS[which];
    await import(specifier.startsWith(".") ? new URL(specifier, import.meta.url).href : specifier);
  },
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

function fail(message: string, hint: string | undefined, code: number): never {
  process.stderr.write(`asm: ${message}${hint ? ` — ${hint}` : ""}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  try {
    await buildProgram(io).parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; commander already wrote its message.
      process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
    }
    if (err instanceof CliError) fail(err.message, err.hint, err.exitCode);
    if (err instanceof AsmError) fail(`${err.kind} / ${err.reasonCode}${err.field ? ` (${err.field})` : ""}: ${err.message}`, undefined, EXIT.failed);
    fail(err instanceof Error ? err.message : String(err), "this is a bug in asm; please report it", EXIT.failed);
  }
}

void main();
