/**
 * The `asm` command (controller/dist/cli/asm/asm.js) through a real controller: every subcommand,
 * the one-line errors, and `asm run` in a real pseudo-terminal (@lydell/node-pty): live text before
 * the end, approvals answered by keystrokes, Ctrl-C, exit codes; `--json` lines.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { spawn as spawnPty } from "@lydell/node-pty";
import { Provider, type RunOptions } from "@asm/shared";
import { createSession } from "../helpers/sessions.js";
import { eventually, startTestController, type TestController } from "../helpers/test-controller.js";
import { testRunMarker } from "../helpers/test-run.js";

const ASM = join(import.meta.dirname, "..", "..", "controller", "dist", "cli", "asm", "asm.js");

interface Done {
  code: number | null;
  out: string;
  err: string;
}

describe("the asm command", () => {
  let t: TestController;
  let home: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    // The controller's operator configures the CLI (here the scripted fake claude).
    t = await startTestController({ hostEnv: { ASM_CLAUDE_CLI_PATH: inject("fakeClaudePath") } });
    home = mkdtempSync(join(tmpdir(), "asm-cli-home-"));
    env = { ...testRunMarker(), PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ASM_CONFIG: join(home, "config.json"), ASM_ADDRESS: `127.0.0.1:${t.app.port}`, NO_COLOR: "1" };
  });

  afterAll(async () => {
    await t?.stop();
  });

  const asm = (args: string[], extraEnv: Record<string, string> = {}): Promise<Done> =>
    new Promise((resolve) => {
      const p = spawn(process.execPath, [ASM, ...args], { env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.on("exit", (code) => resolve({ code, out, err }));
    });
  const fake = () => ["--cwd", t.dir];
  const newSession = async (): Promise<string> => {
    const res = await asm(["sessions", "create", "--cwd", t.dir]);
    expect(res.code, res.err).toBe(0);
    return res.out.trim();
  };

  it("--help on every command; a bad flag and an unreachable controller are one line and a non-zero exit", async () => {
    for (const cmd of [[], ["run"], ["sessions"], ["watch"], ["approve"], ["interrupt"], ["lanes"], ["executors"], ["config"], ["config", "set-context"]]) {
      const res = await asm([...cmd, "--help"]);
      expect(res.code, cmd.join(" ")).toBe(0);
      expect(res.out).toMatch(/Usage: asm/);
    }
    const bad = await asm(["run", "--bogus", "hi"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown option '--bogus'/);
    expect(bad.err).not.toMatch(/\n\s+at /);
    const down = await asm(["sessions", "list"], { ASM_ADDRESS: "127.0.0.1:1", ASM_CONNECT_TIMEOUT_MS: "500" });
    expect(down.code).toBe(2);
    expect(down.err.trim().split("\n")).toHaveLength(1);
    expect(down.err).toMatch(/^asm: controller not reachable at 127\.0\.0\.1:1 \(from ASM_ADDRESS\) — is `asm controller` running\?/);
  });

  it("config: set-context, use, view (the token redacted); flags and ASM_ADDRESS win over the context", async () => {
    const cfg = { ASM_ADDRESS: "" };
    const set = await asm(["config", "set-context", "local", "--address", `127.0.0.1:${t.app.port}`, "--token", "s3cret"], cfg);
    expect(set.code, set.err).toBe(0);
    expect((await asm(["config", "set-context", "nowhere", "--address", "127.0.0.1:1"], cfg)).code).toBe(0);
    const view = JSON.parse((await asm(["config", "view"], cfg)).out) as { current: string; contexts: Record<string, { token?: string }> };
    expect(view.current).toBe("local");
    expect(view.contexts.local?.token).toBe("[redacted]");
    expect((readFileSync(join(home, "config.json")).toString())).toContain("s3cret");
    // Through the current context: a plaintext controller ignores the token, the call works.
    const viaContext = await asm(["sessions", "list"], { ...cfg, ASM_TOKEN: "" });
    expect(viaContext.code, viaContext.err).toBe(0);
    const use = await asm(["config", "use", "nowhere"], cfg);
    expect(use.code, use.err).toBe(0);
    const down = await asm(["sessions", "list"], { ...cfg, ASM_CONNECT_TIMEOUT_MS: "500" });
    expect(down.err).toMatch(/not reachable at 127\.0\.0\.1:1 \(from context nowhere\)/);
    const flagWins = await asm(["--address", `127.0.0.1:${t.app.port}`, "sessions", "list"], cfg);
    expect(flagWins.code, flagWins.err).toBe(0);
    expect((await asm(["config", "use", "ghost"], cfg)).err).toMatch(/^asm: no context named "ghost"/);
    await asm(["config", "use", "local"], cfg);
  });

  it("sessions create, list, show, close", async () => {
    const id = await newSession();
    expect((await asm(["sessions", "list"])).out).toContain(id);
    const shown = JSON.parse((await asm(["sessions", "show", id])).out) as { sessionId: string };
    expect(shown.sessionId).toBe(id);
    expect((await asm(["sessions", "close", id])).out).toBe(`closed ${id}\n`);
    expect((await asm(["sessions", "list"])).out).not.toContain(id);
    expect((await asm(["sessions", "list", "--all"])).out).toContain(id);
    const missing = await asm(["sessions", "show", "ses_missing"]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^asm: not_found \/ /);
  });

  it("run (not a terminal): text, then the summary; --json: one JSON event per line; exit codes by outcome", async () => {
    const text = await asm(["run", ...fake(), "--provider", "claude", "hello [[echo]]"]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain("hello");
    expect(text.out).toMatch(/✓ done · \$\d+\.\d{4} · \d+\.\d s/);
    const lines = (await asm(["run", "--json", ...fake(), "hi [[echo]]"])).out.trim().split("\n");
    const events = lines.map((l) => JSON.parse(l) as { sequence: number | string } & Record<string, unknown>);
    expect(events.map((e) => Number(e.sequence))).toEqual(events.map((_, i) => i + 1));
    // The proto3 JSON mapping: the payload's case is a key of the event.
    expect(Object.keys(events.at(-1)!)).toContain("result");
    const failed = await asm(["run", ...fake(), "[[scenario:crash]]"]);
    expect(failed.code).toBe(1);
    const timedOut = await asm(["run", ...fake(), "--session", await sessionWith({ streamTimeoutMs: 300 }), "[[scenario:hang]]"]);
    expect(timedOut.code).toBe(124);
  });

  /** A session made through the API with options the command line does not expose. */
  async function sessionWith(defaults: Partial<RunOptions>): Promise<string> {
    return createSession(t, Provider.PROVIDER_CLAUDE, { cwd: t.dir, ...defaults });
  }

  /** `asm` running in the background: its stdout so far, and its end. */
  const asmLive = (args: string[]) => {
    const p = spawn(process.execPath, [ASM, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const done = new Promise<Done>((resolve) => p.on("exit", (code) => resolve({ code, out, err })));
    return { out: () => out, done };
  };

  it("watch re-attaches to a run; approve and interrupt answer it from another terminal", async () => {
    const session = await newSession();
    // A run waiting on an approval, followed without a terminal: it says how to answer.
    const running = asmLive(["run", "--session", session, `[[scenario:tool]] [[cmd:touch ${join(t.dir, "cli-approved.txt")}]]`]);
    let approvalId = "";
    expect(await eventually(() => ((approvalId = /asm approve \S+ (\S+) --allow/.exec(running.out())?.[1] ?? ""), approvalId !== ""), 10_000), running.out()).toBe(true);
    expect((await asm(["approve", session, approvalId, "--allow"])).out).toBe(`allowed ${approvalId}\n`);
    const done = await running.done;
    expect(done.code, done.err).toBe(0);
    expect(existsSync(join(t.dir, "cli-approved.txt"))).toBe(true);
    const runId = /▶ run (\S+)/.exec(done.out)![1]!;
    const watched = await asm(["watch", runId, "--json"]);
    expect(watched.code).toBe(0);
    expect(watched.out.trim().split("\n").length).toBeGreaterThan(3);
    const fromFour = (await asm(["watch", runId, "--from", "3", "--json"])).out.trim().split("\n");
    expect(Number((JSON.parse(fromFour[0]!) as { sequence: string }).sequence)).toBe(4);
    // Interrupt a live run from "another terminal".
    const slow = asmLive(["run", "--json", "--session", session, "[[scenario:slow]] [[n:400]] [[ms:20]]"]);
    let live = "";
    expect(await eventually(() => ((live = /"runId":"([^"]+)"/.exec(slow.out())?.[1] ?? ""), live !== ""), 10_000)).toBe(true);
    expect((await asm(["interrupt", live])).out).toMatch(/interrupted|already ended/);
    expect((await slow.done).code).toBe(130);
  });

  it("lanes and executors", async () => {
    const lanes = JSON.parse((await asm(["lanes", "claude"])).out) as { provider: { sdkRuntime: string }; resolved: { lane: string } };
    expect(lanes.provider.sdkRuntime).toBe("@anthropic-ai/claude-agent-sdk");
    expect(lanes.resolved.lane).toBe("core");
    const remote = JSON.parse((await asm(["lanes", "codex", "--remote"])).out) as { resolved: { executionMode: string } };
    expect(remote.resolved.executionMode).toBe("remote_node");
    const executors = await asm(["executors"]);
    expect(executors.code, executors.err).toBe(0);
  });

  it("certs writes a development PKI; controller starts one; executor --help is the executor's help", async () => {
    const out = mkdtempSync(join(tmpdir(), "asm-cli-certs-"));
    const certs = await asm(["certs", "--out", out]);
    expect(certs.code, certs.err).toBe(0);
    expect(existsSync(join(out, "ca.crt"))).toBe(true);
    const help = await asm(["executor", "--help"]);
    expect(help.out).toMatch(/--workspace/);
    const controller = spawn(process.execPath, [ASM, "controller"], { env: { ...env, ASM_LISTEN: "127.0.0.1:0", ASM_INSECURE_LOOPBACK: "1", ASM_LOG_LEVEL: "silent", ASM_DEFAULT_CWD: t.dir }, stdio: ["ignore", "pipe", "pipe"] });
    const ready = await new Promise<string>((resolve) => controller.stdout.on("data", (d: Buffer) => resolve(d.toString())));
    expect(ready).toMatch(/^READY port=\d+/);
    controller.kill("SIGTERM");
    await new Promise((resolve) => controller.once("exit", resolve));
  });

  describe("asm run in a real pseudo-terminal", () => {
    const inPty = (args: string[]) => {
      const term = spawnPty(process.execPath, [ASM, ...args], { name: "xterm", cols: 200, rows: 50, cwd: t.dir, env });
      let screen = "";
      term.onData((d) => (screen += d));
      const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
      return { term, screen: () => screen, exited };
    };

    it("live text appears before the run ends", async () => {
      const run = inPty(["run", ...fake(), "[[scenario:slow]] [[n:40]] [[ms:30]]"]);
      expect(await eventually(() => run.screen().includes("w3"), 10_000), run.screen()).toBe(true);
      expect(run.screen()).not.toMatch(/✓ done/);
      expect(await run.exited).toBe(0);
      expect(run.screen()).toMatch(/✓ done/);
    });

    for (const [answer, allowed] of [["y", true], ["n", false]] as const) {
      it(`an approval answered "${answer}" on the terminal reaches the CLI`, async () => {
        const file = join(t.dir, `pty-${answer}.txt`);
        const run = inPty(["run", ...fake(), `[[scenario:tool]] [[cmd:touch ${file}]]`]);
        expect(await eventually(() => run.screen().includes("allow? [y/N]"), 10_000), run.screen()).toBe(true);
        expect(run.screen()).toMatch(/\? Bash wants to run: .*touch/);
        run.term.write(`${answer}\r`);
        expect(await run.exited).toBe(0);
        expect(existsSync(file)).toBe(allowed);
        expect(run.screen()).toContain(allowed ? "approval allowed" : "approval denied");
      });
    }

    it("Ctrl-C interrupts the run (the CLI's process group is gone), exit code 130", async () => {
      const run = inPty(["run", ...fake(), "[[scenario:slow]] [[n:1000]] [[ms:20]]"]);
      expect(await eventually(() => run.screen().includes("w3"), 10_000), run.screen()).toBe(true);
      const pid = Number(/pid (\d+)/.exec(run.screen())?.[1] ?? 0);
      run.term.write("\x03");
      expect(await run.exited).toBe(130);
      expect(run.screen()).toMatch(/interrupting the run/);
      expect(run.screen()).toMatch(/✗ interrupted/);
      if (pid > 0) expect(await eventually(() => !existsSync(`/proc/${pid}`), 5000)).toBe(true);
    });
  });
});
