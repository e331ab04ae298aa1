import { AsmError } from "../errors/asm-error.js";

/**
 * Confining a CLI's working directory without a window between the check and the spawn: the CLI
 * is started through a tiny `sh` that enters the directory, checks that where it physically is
 * (`pwd -P`) is still the checked real path, and only then execs the CLI (same pid, same process
 * group). A directory swapped for a symlink after the check is refused, never entered.
 */
const GUARD_SCRIPT = `cd -P -- "$1" 2>/dev/null && [ "$(pwd -P)" = "$1" ] || { printf 'asm-cwd-guard: %s is not the directory that was checked\\n' "$1" >&2; exit ${86}; }; shift; exec "$@"`;

/** The guard's exit code when it refused to start the CLI. */
export const CWD_GUARD_REFUSED = 86;

/** The command that starts `command args` in `realCwd` through the guard (spawn it with a safe cwd). */
export function guardedCommand(realCwd: string, command: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: "/bin/sh", args: ["-c", GUARD_SCRIPT, "asm-cwd-guard", realCwd, command, ...args] };
}

/** Whether a process that went through the guard ended because the guard refused its directory. */
export function guardRefused(exit: { code: number | null; stderrTail: string }): boolean {
  return exit.code === CWD_GUARD_REFUSED && exit.stderrTail.includes("asm-cwd-guard:");
}

/** The typed error of a run whose guard refused its directory. */
export function cwdMovedError(realCwd: string, local: boolean): AsmError {
  const message = `the run's directory ${realCwd} was swapped (e.g. for a symlink) between its check and the CLI's start; the CLI was not started`;
  return local
    ? new AsmError({ reasonCode: "policy_denied", field: "cwd", message, details: { rule: "workspace_root" } })
    : new AsmError({ reasonCode: "remote_cwd_outside_workspace", field: "driver_opts.remote_cwd", message, details: { rule: "workspace_root" } });
}

/**
 * Whether the guard entered its directory but could not exec the CLI (not found, not executable,
 * a missing interpreter): the shell, named `asm-cwd-guard`, exits 126 or 127 saying `exec: ...`.
 * The same command fails the same way again, as a direct spawn's ENOENT / EACCES does.
 */
export function guardExecFailed(exit: { code: number | null; stderrTail: string }): boolean {
  return (exit.code === 126 || exit.code === 127) && /asm-cwd-guard: \d+: exec: /.test(exit.stderrTail);
}

/** The spawn_failed error of a CLI the guard could not exec. */
export function guardExecError(command: string, stderrTail: string): AsmError {
  const line = /asm-cwd-guard: \d+: exec: (.*)/.exec(stderrTail)?.[1]?.trim() ?? "cannot execute";
  return new AsmError({ reasonCode: "spawn_failed", message: `failed to start ${command}: ${line}`, stderrTail, details: { command } });
}
