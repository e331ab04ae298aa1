import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it, expect } from "vitest";
import { AsmError } from "../../shared/src/errors/asm-error.js";
import { ManualClock } from "../helpers/manual-clock.js";
import {
  CliProcess,
  LineFramer,
  killAllCliProcesses,
  liveCliProcesses,
  type CliOutput,
  type CliProcessOptions,
  type FramedLine,
} from "../../shared/src/process/index.js";

const ENV = { PATH: process.env.PATH! };
const CWD = os.tmpdir();

function sh(script: string, extra: Partial<CliProcessOptions> = {}): CliProcess {
  return CliProcess.spawn({ command: "/bin/sh", args: ["-c", script], cwd: CWD, env: ENV, ...extra });
}

function nodeProc(code: string, extra: Partial<CliProcessOptions> = {}): CliProcess {
  return CliProcess.spawn({ command: process.execPath, args: ["-e", code], cwd: CWD, env: ENV, ...extra });
}

async function collect(p: CliProcess): Promise<CliOutput[]> {
  const out: CliOutput[] = [];
  for await (const item of p.output()) out.push(item);
  return out;
}

function lines(items: CliOutput[], stream: "stdout" | "stderr"): string[] {
  return items.flatMap((i) => (i.stream === stream && "line" in i ? [i.line] : []));
}

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

/** True if the pid no longer exists (ESRCH) or is only a zombie waiting for an init that may not reap. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

async function waitGone(pid: number, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (isGone(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return isGone(pid);
}

/** Polls `check` until it holds (or `ms` pass): a wait for something to happen, not a delay. */
async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

describe("LineFramer", () => {
  const feed = (f: LineFramer, ...chunks: string[]): FramedLine[] => chunks.flatMap((c) => f.push(Buffer.from(c)));

  it("splits lines across chunks, strips CR, and flushes the final line on end()", () => {
    const f = new LineFramer({ maxLineBytes: 100 });
    const out = feed(f, "he", "llo\nwor", "ld\r\n", "\n", "tail");
    expect(out).toEqual([{ line: "hello" }, { line: "world" }, { line: "" }]);
    expect(f.end()).toEqual([{ line: "tail" }]);
    expect(f.end()).toEqual([]);
  });

  it("keeps multi-byte UTF-8 characters that are split across chunks", () => {
    const f = new LineFramer(100);
    const bytes = Buffer.from("héllo → wörld\n");
    const out: FramedLine[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...f.push(bytes.subarray(i, i + 1)));
    expect(out).toEqual([{ line: "héllo → wörld" }]);
  });

  it("reports an over-long line once, with its full length, and keeps going", () => {
    const f = new LineFramer(5);
    const out = feed(f, "abc", "defghij", "klm\nok\n", "12345\n", "123456\r\n");
    expect(out).toEqual([{ overflow: true, bytes: 13 }, { line: "ok" }, { line: "12345" }, { overflow: true, bytes: 6 }]);
  });

  it("does not buffer an over-long line", () => {
    const f = new LineFramer(10);
    const big = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 16; i++) {
      expect(f.push(big)).toEqual([]);
      expect(f.pendingBytes).toBeLessThanOrEqual(11);
    }
    expect(f.push(Buffer.from("\r\nnext\n"))).toEqual([{ overflow: true, bytes: 16 * 64 * 1024 }, { line: "next" }]);
  });

  it("counts the cap without the CR of a CRLF and reports an unterminated overflow at end()", () => {
    const f = new LineFramer(5);
    expect(feed(f, "12345\r\n")).toEqual([{ line: "12345" }]);
    expect(feed(f, "123456")).toEqual([]);
    expect(f.end()).toEqual([{ overflow: true, bytes: 6 }]);
  });
});

describe("CliProcess", () => {
  it("delivers stdout and stderr lines in order, incl. CRLF and a final unterminated line", async () => {
    const p = sh(`printf 'one\\ntwo\\r\\n'; echo err1 >&2; printf 'three'`);
    expect(p.pid).toBeGreaterThan(0);
    expect(liveCliProcesses()).toContain(p.pid);
    const out = await collect(p);
    expect(lines(out, "stdout")).toEqual(["one", "two", "three"]);
    expect(lines(out, "stderr")).toEqual(["err1"]);
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: null, classification: "success", killedByUs: false, stderrTail: "err1\n" });
    expect(exit.error).toBeUndefined();
    expect(liveCliProcesses()).not.toContain(p.pid);
  });

  it("turns an over-long stdout line into one overflow item and keeps delivering", async () => {
    const p = nodeProc(`process.stdout.write("x".repeat(5000) + "\\nafter\\n" + "y".repeat(10) + "\\n")`, { maxLineBytes: 1000 });
    const out = await collect(p);
    expect(out).toEqual([
      { stream: "stdout", overflow: true, bytes: 5000 },
      { stream: "stdout", line: "after" },
      { stream: "stdout", line: "yyyyyyyyyy" },
    ]);
    expect((await p.exited).classification).toBe("success");
  });

  it("keeps a bounded stderr tail and classifies a non-zero exit", async () => {
    const p = sh(`i=1; while [ $i -le 500 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 3`, { stderrTailBytes: 100 });
    const out = await collect(p);
    expect(lines(out, "stderr")).toHaveLength(500);
    const exit = await p.exited;
    expect(exit.classification).toBe("exit_nonzero");
    expect(exit.code).toBe(3);
    expect(exit.signal).toBeNull();
    expect(Buffer.byteLength(exit.stderrTail)).toBeLessThanOrEqual(100);
    expect(exit.stderrTail.endsWith("line 499\nline 500\n")).toBe(true);
    expect(p.stderrTail()).toBe(exit.stderrTail);
    expect(exit.error).toBeInstanceOf(AsmError);
    expect(exit.error).toMatchObject({ kind: "transport_error", reasonCode: "cli_exit_nonzero", exitCode: 3, stderrTail: exit.stderrTail });
    expect(exit.error!.message).toContain("/bin/sh");
    expect(exit.error!.message).toContain("3");
  });

  it("throws cli_not_found at spawn for a missing command", () => {
    const err = catchErr(() => CliProcess.spawn({ command: "asm-no-such-cli-xyz", args: [], cwd: CWD, env: ENV }));
    expect(err).toBeInstanceOf(AsmError);
    expect(err).toMatchObject({ kind: "cli_not_found", reasonCode: "cli_not_found" });
    expect((err as AsmError).message).toContain("asm-no-such-cli-xyz");

    const err2 = catchErr(() => CliProcess.spawn({ command: "/nonexistent/dir/cli", args: [], cwd: CWD, env: ENV }));
    expect(err2).toMatchObject({ kind: "cli_not_found" });
    // PATH comes from opts.env only, never from this process.
    const err3 = catchErr(() => CliProcess.spawn({ command: "sh", args: [], cwd: CWD, env: {} }));
    expect(err3).toMatchObject({ kind: "cli_not_found" });
  });

  it("throws config_invalid at spawn for a missing cwd", () => {
    const err = catchErr(() => sh("true", { cwd: path.join(CWD, "asm-no-such-dir-xyz") }));
    expect(err).toBeInstanceOf(AsmError);
    expect(err).toMatchObject({ kind: "config_invalid", reasonCode: "cwd_not_found", field: "cwd" });
  });

  it("reports an exec failure after the checks as a spawn_failed exit", async () => {
    // Executable, so it passes the synchronous check, but its interpreter does not exist: ENOENT from exec.
    const dir = mkdtempSync(path.join(CWD, "asm-cli-test-"));
    const script = path.join(dir, "bad-cli");
    writeFileSync(script, "#!/nonexistent/interpreter\n", { mode: 0o755 });
    try {
      const p = CliProcess.spawn({ command: script, args: [], cwd: dir, env: ENV });
      expect(await collect(p)).toEqual([]);
      const exit = await p.exited;
      expect(exit.classification).toBe("spawn_failed");
      expect(exit.error).toMatchObject({ kind: "transport_error", reasonCode: "spawn_failed" });
      expect(exit.error!.message).toContain("bad-cli");
      expect(p.signalGroup("SIGKILL")).toBe(false);
      await expect(p.write("x")).rejects.toMatchObject({ kind: "transport_error" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("passes the environment exactly and runs in cwd", async () => {
    const p = sh(`echo "$FOO|$HOME|$(pwd)"`, { env: { PATH: ENV.PATH, FOO: "bar" }, cwd: "/" });
    expect(lines(await collect(p), "stdout")).toEqual(["bar||/"]);
  });

  it("write() reaches the child, endInput() closes stdin", async () => {
    const p = nodeProc(
      `const rl = require("readline").createInterface({ input: process.stdin });
       rl.on("line", (l) => console.log("echo:" + l)); rl.on("close", () => console.log("bye"));`,
    );
    const outP = collect(p);
    await p.write("hello");
    await p.write("wörld");
    p.endInput();
    p.endInput();
    expect(lines(await outP, "stdout")).toEqual(["echo:hello", "echo:wörld", "bye"]);
    expect((await p.exited).classification).toBe("success");
    await expect(p.write("late")).rejects.toMatchObject({ kind: "transport_error" });
  });

  it("write() rejects instead of throwing EPIPE when the child is gone or stdin is ignored", async () => {
    const p = sh("exit 0");
    await collect(p);
    await p.exited;
    // The child never read stdin; writing now must reject or succeed into the void, never crash.
    await p.write("x".repeat(1024 * 1024)).catch((err: unknown) => expect(err).toMatchObject({ kind: "transport_error" }));

    const q = sh("true", { stdin: "ignore" });
    await expect(q.write("x")).rejects.toMatchObject({ kind: "transport_error" });
    await collect(q);
  });

  it("terminate() escalates to SIGKILL for a child ignoring SIGINT/SIGTERM and kills its grandchildren", async () => {
    // The grace between signals is the subject: a manual clock ends each grace when the child has
    // shown it got the signal and survived it.
    const clock = new ManualClock();
    const p = nodeProc(
      `process.on("SIGINT", () => console.log("survived SIGINT"));
       process.on("SIGTERM", () => console.log("survived SIGTERM"));
       const g = require("child_process").spawn("sh", ["-c", 'trap "" INT TERM; exec sleep 1000'], { stdio: "ignore" });
       console.log(g.pid);
       setInterval(() => {}, 1e6);`,
      { clock },
    );
    const it = p.output()[Symbol.asyncIterator]();
    const next = async (): Promise<string> => ((await it.next()).value as { line: string }).line;
    const grandchild = Number(await next());
    expect(grandchild).toBeGreaterThan(0);
    expect(isGone(grandchild)).toBe(false);

    const t1 = p.terminate({ graceMs: 150 });
    const t2 = p.terminate({ graceMs: 150 });
    expect(t2).toBe(t1);
    expect(await next()).toBe("survived SIGINT");
    expect(clock.delays()).toEqual([150]);
    expect(await clock.fireNext()).toBe(150);
    expect(await next()).toBe("survived SIGTERM");
    expect(clock.delays()).toEqual([150]);
    expect(await clock.fireNext()).toBe(150);
    const drained = (async () => {
      while (!(await it.next()).done);
    })();
    const exit = await t1;
    await drained;
    expect(exit).toMatchObject({ signal: "SIGKILL", classification: "signalled", killedByUs: true });
    expect(exit.error).toMatchObject({ kind: "transport_error", reasonCode: "cli_signalled", signal: "SIGKILL" });
    expect(await p.exited).toBe(exit);
    expect(await waitGone(grandchild)).toBe(true);
    expect(liveCliProcesses()).not.toContain(p.pid);
    expect(p.signalGroup("SIGTERM")).toBe(false);
  });

  it("terminate() stops at the first signal when the child honours it", async () => {
    // `exec`: dash waiting on a forked child sometimes survives a SIGINT sent right after spawn.
    const p = sh(`exec sleep 1000`);
    const outP = collect(p);
    const exit = await p.terminate({ graceMs: 2000 });
    await outP;
    expect(exit).toMatchObject({ signal: "SIGINT", classification: "signalled", killedByUs: true });
  });

  it("kills the process group after the leader exits on its own", async () => {
    // The background sleep inherits stdout, so output only ends once the group is reaped.
    const p = sh(`sleep 1000 & echo $!; exit 0`);
    const out = await collect(p);
    const grandchild = Number(lines(out, "stdout")[0]);
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, classification: "success", killedByUs: false });
    expect(await waitGone(grandchild)).toBe(true);
  });

  it("killAllCliProcesses() SIGKILLs every live group", async () => {
    const a = sh(`sleep 1000`);
    const b = sh(`sleep 1000`);
    const outs = [collect(a), collect(b)];
    expect(liveCliProcesses()).toEqual(expect.arrayContaining([a.pid, b.pid]));
    killAllCliProcesses();
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    await Promise.all(outs);
    expect(ea.signal).toBe("SIGKILL");
    expect(eb.signal).toBe("SIGKILL");
    expect(ea.killedByUs).toBe(true);
  });

  it("applies backpressure: a slow consumer still gets every one of 200k lines in order", async () => {
    const N = 200_000;
    // The child notes in a side file each time stdout stops taking its output ("blocked <lines written>")
    // and each time it drains again.
    const dir = mkdtempSync(path.join(CWD, "asm-cli-bp-"));
    const notes = path.join(dir, "notes");
    writeFileSync(notes, "");
    const p = nodeProc(
      `const fs = require("fs"); let i = 0;
       function go() {
         let s = "";
         while (i < ${N}) {
           s += i + "\\n"; i++;
           if (s.length > 8192) {
             if (!process.stdout.write(s)) {
               fs.appendFileSync(${JSON.stringify(notes)}, "blocked " + i + "\\n");
               process.stdout.once("drain", () => { fs.appendFileSync(${JSON.stringify(notes)}, "drained " + i + "\\n"); go(); });
               return;
             }
             s = "";
           }
         }
         process.stdout.write(s);
       }
       go();`,
    );
    const lastNote = (): string => readFileSync(notes, "utf8").trim().split("\n").at(-1) ?? "";
    let count = 0;
    let inOrder = true;
    let heldAt: number | undefined;
    let aliveWhileHeld = false;
    try {
      for await (const item of p.output()) {
        if (!("line" in item) || item.stream !== "stdout" || item.line !== String(count)) inOrder = false;
        count++;
        if (count === 1000) {
          // Stall here: the supervisor stops reading and the child (~1.3 MB of output) blocks on a
          // full pipe instead of running ahead. Both at once is a state only our reading ends.
          expect(await until(() => p.readingPaused && lastNote().startsWith("blocked "))).toBe(true);
          heldAt = Number(lastNote().slice("blocked ".length));
          aliveWhileHeld = !isGone(p.pid);
        } else if (count % 20_000 === 0) {
          // A slow consumer: give the event loop (and so the child) a turn.
          await new Promise((r) => setImmediate(r));
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(count).toBe(N);
    expect(inOrder).toBe(true);
    expect(aliveWhileHeld).toBe(true);
    // While we read nothing, the child got no further than what the queue and the pipe hold.
    expect(heldAt).toBeLessThan(N / 4);
    expect((await p.exited).classification).toBe("success");
  });

  it("loses no output when the child exits before the consumer starts reading", async () => {
    const p = nodeProc(`for (let i = 0; i < 10000; i++) console.log(i)`);
    // The child's ~50 KB fit in the pipe: it exits before anything is read.
    expect(await waitGone(p.pid)).toBe(true);
    const got = lines(await collect(p), "stdout");
    expect(got).toHaveLength(10000);
    expect(got[9999]).toBe("9999");
    expect((await p.exited).classification).toBe("success");
  });

  it("does not hang on a descendant that left the process group and holds stdout open", async () => {
    const clock = new ManualClock();
    // The escapee prints its own pid (setsid may fork, so `$!` would not be it) and holds stdout;
    // the leader exits once the escapee has left the group (it has written its pid to a file).
    const dir = mkdtempSync(path.join(CWD, "asm-cli-orphan-"));
    const escapedFile = path.join(dir, "escaped");
    const p = sh(`setsid sh -c 'echo $$; echo $$ > "${escapedFile}"; exec sleep 1000' & while [ ! -s "${escapedFile}" ]; do sleep 0.01; done`, {
      orphanPipeTimeoutMs: 100,
      clock,
    });
    const it = p.output()[Symbol.asyncIterator]();
    const first = await it.next();
    const escaped = Number((first.value as { line: string }).line);
    try {
      // The leader has exited and its group is gone, but the escaped sleep holds stdout open: the
      // only wait left is the orphaned-pipe bound, and when it ends the output ends.
      expect(await clock.fireNext()).toBe(100);
      while (!(await it.next()).done);
      expect((await p.exited).classification).toBe("success");
      expect(isGone(escaped)).toBe(false);
    } finally {
      if (escaped > 0) process.kill(escaped, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("allows one consumer; breaking out discards the rest and lets the child finish", async () => {
    const p = nodeProc(`for (let i = 0; i < 100000; i++) console.log("line " + i)`);
    const iterable = p.output();
    expect(() => p.output()).toThrow(AsmError);
    let n = 0;
    for await (const _ of iterable) {
      if (++n === 10) break;
    }
    const exit = await p.exited;
    expect(exit.classification).toBe("success");
  });
});
