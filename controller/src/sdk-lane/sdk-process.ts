/**
 * The CLI processes a vendor SDK starts, held the way the core lane holds its own: in a process
 * group of their own that asm adopts (the orphan reaper lists it, shutdown kills it), started
 * through the cwd guard, with a bound on stdout lines and a tail of stderr kept for errors.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import {
  adoptProcessGroup,
  AsmError,
  CWD_GUARD_REFUSED,
  cwdMovedError,
  guardExecError,
  guardExecFailed,
  guardRefused,
  type AdoptedProcessGroup,
  type PlacedCommand,
  type SurfaceOperatorConfig,
} from "@asm/shared";

/** Where and how an SDK's CLI may start (the controller's confinement and limits). */
export interface SdkProcessLimits {
  /** The real root every run's cwd was confined to: the CLI then starts through the cwd guard. */
  confinedTo?: () => string;
  /** The operator's settings of execution surfaces (ssh_exec). */
  surfaces?: SurfaceOperatorConfig;
  maxLineBytes: number;
  stderrTailBytes: number;
  killGraceMs: number;
}

/** How a child that an SDK asked for ended, with what asm needs to explain it. */
export interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string;
}

/** Keeps the last `limit` bytes of a stream's text and splits it into lines for events. */
class StderrLines {
  private tail = "";
  private partial = "";

  constructor(
    private readonly limit: number,
    private readonly onLine: (line: string) => void,
  ) {}

  feed(chunk: Buffer | string): void {
    const text = chunk.toString();
    this.tail = (this.tail + text).slice(-this.limit);
    const parts = (this.partial + text).split("\n");
    this.partial = (parts.pop() ?? "").slice(-this.limit);
    for (const line of parts) if (line.length > 0) this.onLine(line.slice(0, this.limit));
  }

  flush(): void {
    if (this.partial.length > 0) this.onLine(this.partial);
    this.partial = "";
  }

  get text(): string {
    return this.tail;
  }
}

/** Fails the stream when a line (bytes since the last newline) exceeds `limit`. */
class LineLimit extends Transform {
  private sinceNewline = 0;

  constructor(
    private readonly limit: number,
    private readonly onOverflow: (bytes: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let run = this.sinceNewline;
    let start = 0;
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, start)) {
      if (run + (i - start) > this.limit) return this.overflowed(run + (i - start), callback);
      run = 0;
      start = i + 1;
    }
    run += chunk.length - start;
    if (run > this.limit) return this.overflowed(run, callback);
    this.sinceNewline = run;
    callback(null, chunk);
  }

  private overflowed(bytes: number, callback: TransformCallback): void {
    this.onOverflow(bytes);
    callback();
  }
}

/**
 * One CLI started for an SDK (the claude SDK's `spawnClaudeCodeProcess`): its own process group,
 * adopted; its stdout bounded per line; its stderr as lines and a tail.
 */
export class SdkChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves once the leader has exited (its group is then killed and released). */
  readonly ended: Promise<ChildEnd>;
  /** The stdout the SDK reads: the child's, with the line bound applied. */
  readonly stdout: NodeJS.ReadableStream;
  private readonly group: AdoptedProcessGroup | undefined;
  private readonly stderr: StderrLines;
  private overflowBytes: number | undefined;

  /**
   * @param placed what to spawn, as the run's execution surface placed it (through the cwd guard on
   *   this host, or the SSH client and its environment preamble for ssh_exec).
   */
  constructor(
    placed: PlacedCommand,
    private readonly limits: SdkProcessLimits,
    onStderrLine: (line: string) => void,
  ) {
    this.child = spawn(placed.command, placed.args, { cwd: placed.cwd, env: placed.env, detached: true, stdio: ["pipe", "pipe", "pipe"], windowsHide: true });
    for (const line of placed.preamble) this.child.stdin?.write(`${line}\n`);
    this.pid = this.child.pid ?? 0;
    this.group = this.pid > 0 ? adoptProcessGroup(this.pid) : undefined;
    this.stderr = new StderrLines(limits.stderrTailBytes, onStderrLine);
    this.child.stderr?.on("data", (chunk: Buffer) => this.stderr.feed(chunk));
    this.child.stdin?.on("error", () => undefined);
    const limit = new LineLimit(limits.maxLineBytes, (bytes) => {
      this.overflowBytes ??= bytes;
      this.group?.signal("SIGKILL");
    });
    this.stdout = this.child.stdout!.pipe(limit);
    this.ended = new Promise<ChildEnd>((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.stderr.flush();
        // What the leader left in its group goes with it, as for the core lane's CLIs.
        this.group?.release();
        resolve({ code, signal, stderrTail: this.stderr.text });
      };
      this.child.once("exit", finish);
      this.child.once("error", () => {
        if (this.pid === 0) finish(null, null);
      });
    });
  }

  /** The line that was too long, if one was (the child was then killed). */
  get overflow(): number | undefined {
    return this.overflowBytes;
  }

  /** Signals the whole group. */
  signal(sig: NodeJS.Signals): void {
    this.group?.signal(sig);
  }

  /** SIGINT, SIGTERM, SIGKILL to the group, `killGraceMs` apart, until the leader is gone. */
  async terminate(firstSignal: NodeJS.Signals = "SIGTERM"): Promise<ChildEnd> {
    for (const sig of firstSignal === "SIGINT" ? (["SIGINT", "SIGTERM", "SIGKILL"] as const) : (["SIGTERM", "SIGKILL"] as const)) {
      if (await settlesWithin(this.ended, 0)) break;
      this.signal(sig);
      if (sig === "SIGKILL") break;
      if (await settlesWithin(this.ended, this.limits.killGraceMs)) break;
    }
    return this.ended;
  }
}

/** Whether `promise` resolves within `ms` (a process's end, an SDK call); its rejection is thrown. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why a CLI that an SDK started did not do its job, from how it ended: the cwd guard refused its
 * directory, the guard could not exec it, or its stdout line was too long. Undefined otherwise.
 */
export function childFailure(end: ChildEnd | undefined, opts: { provider: string; cliPath: string; cwd: string; confined: boolean; overflow?: number; maxLineBytes: number }): AsmError | undefined {
  if (opts.overflow !== undefined) {
    return new AsmError({
      provider: opts.provider,
      reasonCode: "line_too_long",
      message: `${opts.provider} CLI wrote a ${opts.overflow}-byte line, over the ${opts.maxLineBytes}-byte limit`,
      details: { bytes: opts.overflow, limit: opts.maxLineBytes },
    });
  }
  if (!end || !opts.confined) return undefined;
  if (guardRefused(end)) return cwdMovedError(opts.cwd, true);
  if (guardExecFailed({ code: end.code, stderrTail: end.stderrTail })) return guardExecError(opts.cliPath, end.stderrTail).with({ provider: opts.provider });
  return undefined;
}

/**
 * The codex SDK spawns `codexPathOverride` itself, with no hook: asm points it at this launcher,
 * which writes its pid where the run reads it, enters the checked cwd through the same guard as
 * every CLI, and execs the real CLI as the leader of a new process group (`setsid` execs in
 * place: same pid), which the run then adopts. Its variables are removed before the exec.
 */
const LAUNCHER = `#!/bin/sh
printf '%s\\n' "$$" > "$ASM_SDK_PID_FILE" || exit 125
asm_cli=$ASM_SDK_CLI
asm_cwd=$ASM_SDK_CWD
unset ASM_SDK_PID_FILE ASM_SDK_CLI ASM_SDK_CWD
if [ -n "$asm_cwd" ]; then
  cd -P -- "$asm_cwd" 2>/dev/null && [ "$(pwd -P)" = "$asm_cwd" ] || { printf 'asm-cwd-guard: %s is not the directory that was checked\\n' "$asm_cwd" >&2; exit ${CWD_GUARD_REFUSED}; }
fi
if command -v setsid >/dev/null 2>&1; then exec setsid "$asm_cli" "$@"; fi
exec "$asm_cli" "$@"
`;

/** A private directory with the launcher, and one pid file per run. */
export class SdkLauncher {
  private dir: string | undefined;

  /** The launcher's path (written on first use, mode 0700 in a private temp directory). */
  get path(): string {
    const dir = this.ensureDir();
    return join(dir, "asm-sdk-launcher");
  }

  /** A fresh pid-file path for one run. */
  pidFile(runId: string): string {
    return join(this.ensureDir(), `${runId}.pid`);
  }

  /** The pid the launcher of a run wrote, if it has. */
  readPid(pidFile: string): number | undefined {
    try {
      const pid = Number.parseInt(readFileSync(pidFile, "utf8").trim(), 10);
      return Number.isInteger(pid) && pid > 1 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  removePidFile(pidFile: string): void {
    rmSync(pidFile, { force: true });
  }

  /** Removes the directory (controller shutdown). */
  dispose(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  private ensureDir(): string {
    if (this.dir && existsSync(this.dir)) return this.dir;
    this.dir = mkdtempSync(join(tmpdir(), "asm-sdk-"));
    const launcher = join(this.dir, "asm-sdk-launcher");
    writeFileSync(launcher, LAUNCHER, { mode: 0o700 });
    chmodSync(launcher, 0o700);
    return this.dir;
  }
}
