import { AsmError } from "../errors/asm-error.js";

/**
 * The error of a CLI that exited nonzero or was ended by a signal (`cli_exit_nonzero` /
 * `cli_signalled`), for every process asm supervises (CliProcess, and the CLIs an SDK starts);
 * undefined for a clean exit.
 */
export function cliExitError(command: string, exit: { code: number | null; signal: string | null; stderrTail: string; killedByUs: boolean }): AsmError | undefined {
  const { code, signal, stderrTail, killedByUs } = exit;
  if (signal !== null) {
    return new AsmError({ reasonCode: "cli_signalled", message: `${command} was terminated by signal ${signal}${killedByUs ? " (sent by asm)" : ""}`, signal, stderrTail, details: { command, killedByUs } });
  }
  if (code !== 0) {
    return new AsmError({ reasonCode: "cli_exit_nonzero", message: `${command} exited with code ${code}`, exitCode: code ?? undefined, stderrTail, details: { command, killedByUs } });
  }
  return undefined;
}

/** Decodes a byte tail, skipping UTF-8 continuation bytes cut off at its start. */
export function decodeTail(buf: Buffer): string {
  let start = 0;
  while (start < buf.length && start < 3 && ((buf[start] ?? 0) & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString("utf8");
}
