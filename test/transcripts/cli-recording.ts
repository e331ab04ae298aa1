/**
 * One real CLI process under a recording: every line written to it (`>`), every stdout line it
 * wrote (`<`) and the recorder's notes (`!`: spawn, signals, stdin closed, exit, stderr), in the
 * order the recorder saw them. Scenario scripts react to stdout with `waitFor` and answer with
 * `send`; the reader hands each line over and lets the script's reaction run before it takes the
 * next one, so a line written in answer to X always follows X in the log, however the CLI's output
 * was chunked.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { isRacyStderr } from "./normalize-transcript.js";

export type Entry = { dir: "<" | ">" | "!"; text: string };

export interface SpawnSpec {
  /** Name shown in the log (`claude`, `codex`, `gemini`), never the machine's install path. */
  name: string;
  path: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** `closed`: stdin is /dev/null (one-shot modes); `open`: the recorder writes to it. */
  stdin: "open" | "closed";
}

export type LineTest = (json: any, text: string) => boolean;

interface Waiter {
  test: LineTest;
  resolve: (json: any) => void;
  reject: (why: string) => void;
}

/** How long any one wait may take before the recording fails with what the CLI said so far. */
const WAIT_MS = 30_000;

export class CliRecording {
  private readonly child: ChildProcess;
  private readonly waiters = new Set<Waiter>();
  private readonly stderr: string[] = [];
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stdout lines seen so far, parsed (undefined when a line is not JSON). */
  readonly seen: { json: any; text: string }[] = [];
  /** Index in `seen` after the line the last wait returned. */
  private cursor = 0;

  constructor(
    private readonly log: Entry[],
    spec: SpawnSpec,
  ) {
    // The argument list as JSON: arguments may hold spaces (a prompt after -p).
    log.push({ dir: "!", text: `spawn ${JSON.stringify([spec.name, ...spec.args])}` });
    // PATH is the machine's own; the rest is the hermetic setup the scenario chose.
    log.push({ dir: "!", text: `env ${Object.keys(spec.env).sort().map((k) => (k === "PATH" ? "PATH=<system>" : `${k}=${spec.env[k]}`)).join(" ")}` });
    this.child = spawn(spec.path, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: [spec.stdin === "open" ? "pipe" : "ignore", "pipe", "pipe"],
      detached: true,
    });
    // The exit and the last stdout line read, so no stdout line comes after the exit note.
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => this.child.once("close", (code, signal) => resolve({ code, signal })));
    const reading = this.readStdout();
    this.exited = reading.then(() => closed);
    void this.exited.then(() => {
      for (const w of [...this.waiters]) w.reject("the CLI exited");
      this.waiters.clear();
    });
    const err = createInterface({ input: this.child.stderr! });
    err.on("line", (line) => this.stderr.push(line));
  }

  get pid(): number {
    return this.child.pid!;
  }

  private async readStdout(): Promise<void> {
    for await (const text of createInterface({ input: this.child.stdout!, crlfDelay: Infinity })) {
      if (text.trim() === "") continue;
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      this.log.push({ dir: "<", text });
      this.seen.push({ json, text });
      for (const w of [...this.waiters]) {
        if (w.test(json, text)) {
          this.waiters.delete(w);
          this.cursor = this.seen.length;
          w.resolve(json);
        }
      }
      // Let the script's reaction to this line (a `send`) happen before the next line is logged.
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * The first stdout line after the one the previous wait returned that passes `test` (lines that
   * came earlier are not lost: a wait looks at what was already read first).
   */
  waitFor(what: string, test: LineTest): Promise<any> {
    for (let i = this.cursor; i < this.seen.length; i++) {
      const line = this.seen[i]!;
      if (test(line.json, line.text)) {
        this.cursor = i + 1;
        return Promise.resolve(line.json);
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}; last lines:\n${this.tail()}`));
      }, WAIT_MS);
      const waiter: Waiter = {
        test,
        resolve: (json) => {
          clearTimeout(timer);
          resolve(json);
        },
        reject: (why) => {
          clearTimeout(timer);
          reject(new Error(`${why} while waiting for ${what}; last lines:\n${this.tail()}`));
        },
      };
      this.waiters.add(waiter);
    });
  }

  send(line: string | object): void {
    const text = typeof line === "string" ? line : JSON.stringify(line);
    this.log.push({ dir: ">", text });
    this.child.stdin!.write(`${text}\n`);
  }

  /** Writes `text` as it is (no newline): a prompt a one-shot mode reads from stdin. */
  sendText(text: string): void {
    if (text.includes("\n")) throw new Error("a recorded stdin text is one line of the transcript: no newline in it");
    this.log.push({ dir: ">", text });
    this.child.stdin!.write(text);
  }

  closeStdin(): void {
    this.log.push({ dir: "!", text: "stdin closed" });
    this.child.stdin!.end();
  }

  signal(signal: NodeJS.Signals): void {
    this.log.push({ dir: "!", text: `signal ${signal}` });
    process.kill(this.child.pid!, signal);
  }

  /** Waits for the exit, notes it and the stderr, and makes sure nothing of the process group is left. */
  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = setTimeout(() => this.killGroup(), WAIT_MS);
    const result = await this.exited;
    clearTimeout(timer);
    this.killGroup();
    this.log.push({ dir: "!", text: `exit code=${result.code} signal=${result.signal}` });
    for (const line of this.stderr) if (!isRacyStderr(line)) this.log.push({ dir: "!", text: `stderr ${line}` });
    return result;
  }

  /** Ends the process group at once (used when a script fails). */
  killGroup(): void {
    try {
      process.kill(-this.child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }

  private tail(): string {
    return [...this.seen.slice(-5).map((l) => `< ${l.text.slice(0, 300)}`), ...this.stderr.slice(-5).map((l) => `stderr ${l.slice(0, 300)}`)].join("\n");
  }
}
