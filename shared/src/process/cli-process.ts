import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import type { Readable, Writable } from "node:stream";
import { AsmError } from "../errors/asm-error.js";
import { realClock, type Clock } from "../clock/clock.js";
import { cliExitError, decodeTail } from "./cli-exit.js";
import { LineFramer, type FramedLine } from "./line-framer.js";
import { releaseGroup, superviseGroup, type SupervisedGroup } from "./process-groups.js";
import { errnoCode, resolveCommand } from "./resolve-command.js";

export interface CliProcessOptions {
  command: string;
  args: string[];
  cwd: string;
  /** The child's complete environment (nothing is inherited from this process). */
  env: Record<string, string>;
  /** Cap per stdout/stderr line; longer lines are reported as overflow. Default 1 MiB. */
  maxLineBytes?: number;
  /** Bytes of stderr kept for {@link CliProcess.stderrTail}. Default 8192. */
  stderrTailBytes?: number;
  /** Default "pipe". With "ignore", {@link CliProcess.write} always rejects. */
  stdin?: "pipe" | "ignore";
  /**
   * After the leader has exited and its process group was killed, how long to wait for stdout/stderr
   * to close before destroying them (only a descendant that left the group can still hold them open).
   * The wait is extended while reading is paused for backpressure. Default 2000 ms.
   */
  orphanPipeTimeoutMs?: number;
  /** The clock of the kill-grace and orphaned-pipe waits. Default: the real one. */
  clock?: Clock;
}

export type CliOutput =
  | { stream: "stdout"; line: string }
  | { stream: "stderr"; line: string }
  | { stream: "stdout"; overflow: true; bytes: number };

export type CliExitClassification = "success" | "exit_nonzero" | "signalled" | "spawn_failed";

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  classification: CliExitClassification;
  /** True when the process was signalled by {@link CliProcess.terminate} while it was still running. */
  killedByUs: boolean;
  stderrTail: string;
  error?: AsmError;
}

export interface TerminateOptions {
  /** Wait after each signal before escalating. Default 2000 ms. */
  graceMs?: number;
  /** Default SIGINT. */
  firstSignal?: NodeJS.Signals;
}

/** errno codes of a spawn that may succeed when tried again. */
const TRANSIENT_SPAWN_ERRORS: ReadonlySet<string> = new Set(["EAGAIN", "ENOMEM", "EMFILE", "ENFILE", "EBUSY", "EINTR"]);

const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
const DEFAULT_STDERR_TAIL_BYTES = 8192;
const DEFAULT_GRACE_MS = 2000;
const DEFAULT_ORPHAN_PIPE_TIMEOUT_MS = 2000;
/** Most bytes framed in one go; bounds how far one read can overshoot the queue limit. */
const READ_SLICE_BYTES = 8192;
/** Queue length at which reading from the child is paused ... */
const QUEUE_HIGH_WATER = 256;
/** ... and at which it is resumed. */
const QUEUE_LOW_WATER = 64;

const HAS_PROC = fs.existsSync("/proc/self/stat");

/**
 * A coding-agent CLI running as a supervised child in its own process group. Output is line-framed
 * from the moment of spawn and delivered through {@link output} with backpressure: when the consumer
 * falls behind, reading from the child's pipes is paused, so the child blocks instead of output being
 * dropped. A consequence: `exited` resolves only once all output has been read, so a process with a
 * lot of output needs a consumer of {@link output} (or one that breaks out of it, which discards the
 * rest) before `exited`/`terminate()` can resolve.
 */
export class CliProcess implements SupervisedGroup {
  /** Pid of the leader (and id of its process group); 0 if the spawn failed asynchronously. */
  readonly pid: number;
  /** Resolves (never rejects) once the leader has exited and stdout/stderr have been fully read. */
  readonly exited: Promise<CliExit>;

  private readonly command: string;
  private readonly stdin: Writable | null;
  private readonly stdout: Readable;
  private readonly stderr: Readable;
  private readonly stdoutFramer: LineFramer;
  private readonly stderrFramer: LineFramer;
  private readonly stderrTailBytes: number;
  private readonly orphanPipeTimeoutMs: number;
  private readonly clock: Clock;
  private resolveExited!: (exit: CliExit) => void;

  private tail: Buffer = Buffer.alloc(0);
  private queue: CliOutput[] = [];
  private queueHead = 0;
  private waiter: (() => void) | undefined;
  private consumed = false;
  private discardOutput = false;
  /** True while reading is stopped because the queue is full. */
  private pausedForBackpressure = false;
  private pumping = false;
  private stdoutDone = false;
  private stderrDone = false;

  private leaderExited = false;
  private leaderExitWaiters: Array<() => void> = [];
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private spawnError: unknown;
  private killedByUs = false;
  private groupReaped = false;
  private finalized = false;
  private orphanTimer: unknown;
  private terminating: Promise<CliExit> | undefined;

  /**
   * Whether the leader process is still running. Checked against the kernel too: a leader that
   * died a moment ago is a zombie before Node reaps it and reports its exit.
   */
  get running(): boolean {
    if (this.leaderExited || this.pid <= 0) return false;
    if (HAS_PROC) {
      try {
        const stat = fs.readFileSync(`/proc/${this.pid}/stat`, "utf8");
        return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
      } catch {
        return false;
      }
    }
    try {
      process.kill(this.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  private constructor(command: string, child: ChildProcess, opts: CliProcessOptions) {
    this.command = command;
    this.pid = child.pid ?? 0;
    this.stdin = child.stdin;
    if (child.stdout === null || child.stderr === null) throw new Error("CliProcess: stdout/stderr pipes missing");
    this.stdout = child.stdout;
    this.stderr = child.stderr;
    const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.stdoutFramer = new LineFramer(maxLineBytes);
    this.stderrFramer = new LineFramer(maxLineBytes);
    this.stderrTailBytes = Math.max(0, opts.stderrTailBytes ?? DEFAULT_STDERR_TAIL_BYTES);
    this.orphanPipeTimeoutMs = opts.orphanPipeTimeoutMs ?? DEFAULT_ORPHAN_PIPE_TIMEOUT_MS;
    this.clock = opts.clock ?? realClock;
    this.exited = new Promise<CliExit>((resolve) => {
      this.resolveExited = resolve;
    });

    // stdin errors (EPIPE once the child is gone) must never become unhandled.
    this.stdin?.on("error", () => {});

    // Paused mode ('readable' + read()) rather than 'data' + pause(): reading stops exactly when the
    // queue is full, and Node's child_process does not force-resume such streams when the child exits.
    this.stdout.on("readable", () => this.pump());
    this.stdout.on("end", () => this.finishStream("stdout"));
    this.stdout.on("close", () => this.finishStream("stdout"));
    this.stdout.on("error", () => this.finishStream("stdout"));
    this.stderr.on("readable", () => this.pump());
    this.stderr.on("end", () => this.finishStream("stderr"));
    this.stderr.on("close", () => this.finishStream("stderr"));
    this.stderr.on("error", () => this.finishStream("stderr"));

    child.on("exit", (code, signal) => this.onLeaderExit(code, signal));
    child.on("error", (err) => {
      // Before a pid exists this is a failed spawn (ENOENT, EACCES, ...); later errors come from
      // kill()/IPC and do not change the process's fate.
      if (child.pid !== undefined || this.leaderExited) return;
      this.spawnError = err;
      this.onLeaderExit(null, null);
      this.stdin?.destroy();
      this.stdout.destroy();
      this.stderr.destroy();
    });

    if (this.pid > 0) superviseGroup(this);
  }

  /** Validates `cwd` and `command` synchronously, then starts the child in its own process group. */
  static spawn(opts: CliProcessOptions): CliProcess {
    let cwdIsDir = false;
    try {
      cwdIsDir = fs.statSync(opts.cwd).isDirectory();
    } catch {
      cwdIsDir = false;
    }
    if (!cwdIsDir) {
      throw new AsmError({
        reasonCode: "cwd_not_found",
        field: "cwd",
        message: `working directory does not exist or is not a directory: ${opts.cwd}`,
        details: { cwd: opts.cwd },
      });
    }
    const resolved = resolveCommand(opts.command, opts.cwd, opts.env["PATH"]);
    if (resolved === undefined) {
      throw new AsmError({
        reasonCode: "cli_not_found",
        message: opts.command.includes("/")
          ? `CLI not found or not executable: ${opts.command}`
          : `CLI not found on PATH: ${opts.command}`,
        details: { command: opts.command },
      });
    }
    let child: ChildProcess;
    try {
      child = spawn(resolved, opts.args, {
        cwd: opts.cwd,
        env: opts.env,
        argv0: opts.command,
        detached: true,
        stdio: [opts.stdin ?? "pipe", "pipe", "pipe"],
        windowsHide: true,
      });
    } catch (err) {
      throw new AsmError({
        reasonCode: "spawn_failed",
        message: `failed to start ${opts.command}: ${errnoCode(err) ?? "spawn error"}`,
        details: { command: opts.command },
        cause: err,
      });
    }
    return new CliProcess(opts.command, child, opts);
  }

  /**
   * Output lines in arrival order, ending when both stdout and stderr are closed. Only one consumer:
   * a second call throws. Breaking out of the loop discards all further output (and un-pauses the child).
   */
  output(): AsyncIterable<CliOutput> {
    if (this.consumed) {
      throw new AsmError({ reasonCode: "output_already_consumed", message: "CliProcess.output() may only be consumed once" });
    }
    this.consumed = true;
    const iterator: AsyncIterator<CliOutput> = {
      next: async (): Promise<IteratorResult<CliOutput>> => {
        for (;;) {
          if (this.discardOutput) return { done: true, value: undefined };
          const item = this.dequeue();
          if (item !== undefined) return { done: false, value: item };
          if (this.stdoutDone && this.stderrDone) return { done: true, value: undefined };
          await new Promise<void>((resolve) => {
            this.waiter = resolve;
          });
        }
      },
      return: async (): Promise<IteratorResult<CliOutput>> => {
        this.discardOutput = true;
        this.queue = [];
        this.queueHead = 0;
        this.pump();
        this.wake();
        return { done: true, value: undefined };
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  /** The last `stderrTailBytes` bytes of stderr, as text. */
  stderrTail(): string {
    return decodeTail(this.tail);
  }

  /** Writes `line + "\n"` to the child's stdin, waiting for 'drain' when the pipe is full. */
  write(line: string): Promise<void> {
    return this.writeText(`${line}\n`);
  }

  /** Writes `text` to the child's stdin as it is (no newline added); same failures as `write`. */
  writeText(text: string): Promise<void> {
    const stdin = this.stdin;
    if (stdin === null || stdin.destroyed || stdin.writableEnded || !stdin.writable) {
      return Promise.reject(
        new AsmError({ reasonCode: "stdin_closed", message: `stdin of ${this.command} is closed` }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const cleanup = (): void => {
        stdin.off("drain", onDrain);
        stdin.off("close", onClose);
        stdin.off("error", onError);
      };
      const fail = (err?: unknown): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(
          new AsmError({
            reasonCode: "stdin_write_failed",
            message: `writing to stdin of ${this.command} failed${errnoCode(err) ? `: ${errnoCode(err)}` : ""}`,
            cause: err,
          }),
        );
      };
      const onDrain = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve();
      };
      const onClose = (): void => fail();
      const onError = (err: unknown): void => fail(err);
      const ok = stdin.write(text, (err) => {
        if (err) fail(err);
      });
      if (ok) {
        settled = true;
        resolve();
        return;
      }
      stdin.on("drain", onDrain);
      stdin.on("close", onClose);
      stdin.on("error", onError);
    });
  }

  /** Closes the child's stdin (idempotent). */
  endInput(): void {
    const stdin = this.stdin;
    if (stdin === null || stdin.destroyed || stdin.writableEnded) return;
    stdin.end();
  }

  /**
   * Sends `sig` to the child's whole process group. Returns false if the group is already gone
   * (ESRCH), was already SIGKILLed after the leader exited, or the spawn failed.
   */
  signalGroup(sig: NodeJS.Signals): boolean {
    // pid 0 would mean "our own process group": never signal it.
    if (this.pid <= 0 || this.groupReaped) return false;
    try {
      process.kill(-this.pid, sig);
      return true;
    } catch (err) {
      if (errnoCode(err) === "ESRCH") return false;
      throw err;
    }
  }

  /**
   * SIGKILLs the process group so no descendant outlives the leader. Called automatically when the
   * leader exits; further signals to the group are suppressed afterwards (the pgid may be reused).
   */
  reapGroup(): void {
    if (this.pid <= 0 || this.groupReaped) return;
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch (err) {
      const code = errnoCode(err);
      if (code !== "ESRCH" && code !== "EPERM") throw err;
    }
    this.groupReaped = true;
  }

  /**
   * Stops the child: `firstSignal` (SIGINT) to the group, then SIGTERM, then SIGKILL, waiting
   * `graceMs` for the leader to exit between steps. Concurrent calls share one escalation.
   */
  terminate(opts: TerminateOptions = {}): Promise<CliExit> {
    if (this.terminating) return this.terminating;
    const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    const firstSignal = opts.firstSignal ?? "SIGINT";
    this.terminating = (async () => {
      const steps: NodeJS.Signals[] = [firstSignal, "SIGTERM", "SIGKILL"];
      for (let i = 0; i < steps.length; i++) {
        if (this.leaderExited) break;
        const sig = steps[i]!;
        if (i > 0 && sig === steps[i - 1]) continue;
        this.killedByUs = true;
        this.signalGroup(sig);
        if (sig === "SIGKILL") break;
        await this.waitLeaderExit(graceMs);
      }
      return this.exited;
    })();
    return this.terminating;
  }

  /**
   * Whether reading from the child is paused because the consumer of `output()` is behind: the
   * pipes fill and the child blocks on its next write until the consumer catches up.
   */
  get readingPaused(): boolean {
    return this.pausedForBackpressure;
  }

  /**
   * The next output line already read, without waiting; undefined when none is queued. For the
   * consumer of `output()` only, between its steps: it takes the rest of a burst in one go.
   */
  nextQueued(): CliOutput | undefined {
    if (this.discardOutput) return undefined;
    return this.dequeue();
  }

  // ---- internals ----

  private queueLength(): number {
    return this.queue.length - this.queueHead;
  }

  /**
   * Reads whatever the pipes have buffered while the queue has room. When the queue is full, reading
   * stops: the streams' buffers fill, the kernel pipes fill, and the child blocks on write.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let progress = true;
      while (progress) {
        progress = false;
        for (const stream of ["stdout", "stderr"] as const) {
          if (!this.discardOutput && this.queueLength() >= QUEUE_HIGH_WATER) {
            this.pausedForBackpressure = true;
            return;
          }
          const readable = stream === "stdout" ? this.stdout : this.stderr;
          // Small slices keep the queue close to its bound even when a slice holds many short lines.
          const buffered = readable.readableLength;
          const chunk = (buffered > 0 ? readable.read(Math.min(buffered, READ_SLICE_BYTES)) : readable.read()) as Buffer | null;
          if (chunk === null) continue;
          progress = true;
          if (stream === "stdout") {
            this.enqueueFramed("stdout", this.stdoutFramer.push(chunk));
          } else {
            this.appendTail(chunk);
            this.enqueueFramed("stderr", this.stderrFramer.push(chunk));
          }
        }
      }
      this.pausedForBackpressure = false;
    } finally {
      this.pumping = false;
    }
  }

  private appendTail(chunk: Buffer): void {
    const cap = this.stderrTailBytes;
    if (cap === 0) return;
    if (chunk.length >= cap) {
      this.tail = Buffer.from(chunk.subarray(chunk.length - cap));
    } else if (this.tail.length + chunk.length <= cap) {
      this.tail = Buffer.concat([this.tail, chunk]);
    } else {
      const keep = cap - chunk.length;
      this.tail = Buffer.concat([this.tail.subarray(this.tail.length - keep), chunk]);
    }
  }

  private enqueueFramed(stream: "stdout" | "stderr", items: FramedLine[]): void {
    if (items.length === 0 || this.discardOutput) return;
    for (const item of items) {
      if ("line" in item) {
        this.queue.push(stream === "stdout" ? { stream: "stdout", line: item.line } : { stream: "stderr", line: item.line });
      } else if (stream === "stdout") {
        this.queue.push({ stream: "stdout", overflow: true, bytes: item.bytes });
      } else {
        // CliOutput has no stderr overflow variant; report it as a marker line (the tail has the bytes).
        this.queue.push({ stream: "stderr", line: `[asm: stderr line of ${item.bytes} bytes omitted: over the line limit]` });
      }
    }
    this.wake();
  }

  private dequeue(): CliOutput | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const item = this.queue[this.queueHead]!;
    this.queueHead++;
    if (this.queueHead >= 1024 || this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    if (this.pausedForBackpressure && this.queueLength() <= QUEUE_LOW_WATER) this.pump();
    return item;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private finishStream(stream: "stdout" | "stderr"): void {
    if (stream === "stdout") {
      if (this.stdoutDone) return;
      this.enqueueFramed("stdout", this.stdoutFramer.end());
      this.stdoutDone = true;
    } else {
      if (this.stderrDone) return;
      this.enqueueFramed("stderr", this.stderrFramer.end());
      this.stderrDone = true;
    }
    this.wake();
    this.maybeFinalize();
  }

  private onLeaderExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.leaderExited) return;
    this.leaderExited = true;
    this.exitCode = code;
    this.exitSignal = signal;
    this.reapGroup();
    for (const w of this.leaderExitWaiters.splice(0)) w();
    if (!(this.stdoutDone && this.stderrDone)) this.armOrphanTimer();
    this.maybeFinalize();
  }

  /** Only a descendant that escaped the process group can keep the pipes open after the reap. */
  private armOrphanTimer(): void {
    this.orphanTimer = this.clock.setTimeout(
      () => {
        this.orphanTimer = undefined;
        if (this.stdoutDone && this.stderrDone) return;
        if (this.pausedForBackpressure) {
          this.armOrphanTimer();
          return;
        }
        this.stdout.destroy();
        this.stderr.destroy();
      },
      this.orphanPipeTimeoutMs,
      { unref: true },
    );
  }

  private waitLeaderExit(ms: number): Promise<void> {
    if (this.leaderExited) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.clock.clearTimeout(timer);
        const i = this.leaderExitWaiters.indexOf(done);
        if (i >= 0) this.leaderExitWaiters.splice(i, 1);
        resolve();
      };
      const timer = this.clock.setTimeout(done, ms);
      this.leaderExitWaiters.push(done);
    });
  }

  private maybeFinalize(): void {
    if (this.finalized || !this.leaderExited || !this.stdoutDone || !this.stderrDone) return;
    this.finalized = true;
    if (this.orphanTimer !== undefined) this.clock.clearTimeout(this.orphanTimer);
    releaseGroup(this);
    this.resolveExited(this.buildExit());
  }

  private buildExit(): CliExit {
    const stderrTail = this.stderrTail();
    const base = { code: this.exitCode, signal: this.exitSignal, killedByUs: this.killedByUs, stderrTail };
    if (this.spawnError !== undefined) {
      const code = errnoCode(this.spawnError);
      return {
        ...base,
        classification: "spawn_failed",
        error: new AsmError({
          // The same command fails the same way again (E2BIG, ENOENT, EACCES, ...); only a host
          // short of resources (EAGAIN, ENOMEM, EMFILE, ...) may do better on a retry.
          reasonCode: code !== undefined && TRANSIENT_SPAWN_ERRORS.has(code) ? "spawn_resources_exhausted" : "spawn_failed",
          message: `failed to start ${this.command}${code ? `: ${code}` : ""}`,
          stderrTail,
          details: { command: this.command },
          cause: this.spawnError,
        }),
      };
    }
    const error = cliExitError(this.command, base);
    if (error) return { ...base, classification: this.exitSignal !== null ? "signalled" : "exit_nonzero", error };
    return { ...base, classification: "success" };
  }
}
