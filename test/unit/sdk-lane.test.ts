import { mkdtempSync, readFileSync, realpathSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { AsmError, liveCliProcesses, payload, providerCatalog, requireLaneCapabilities, resolveLane, runNeeds, type EventDraft, type RunSettings } from "@asm/shared";
import { DraftChannel } from "../../controller/src/sdk-lane/draft-channel.js";
import { SdkChild, SdkLauncher } from "../../controller/src/sdk-lane/sdk-process.js";

const yes = () => ({ version: "1.2.3" });

function settings(partial: Partial<RunSettings> = {}): RunSettings {
  return { permissionMode: "default", interactiveApprovals: undefined, providerOptions: {}, env: {}, ...partial } as RunSettings;
}

function catchError(fn: () => unknown): AsmError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AsmError) return err;
    throw err;
  }
  throw new Error("expected an AsmError");
}

describe("what a run needs of its lane", () => {
  it("interactive approvals, a warm process, a profile", () => {
    const approvals = { supportsApprovals: true };
    expect(runNeeds(approvals, settings(), false)).toEqual(["approvals"]);
    expect(runNeeds(approvals, settings({ permissionMode: "bypass" }), false)).toEqual([]);
    expect(runNeeds(approvals, settings({ permissionMode: "bypass", interactiveApprovals: true }), false)).toEqual(["approvals"]);
    expect(runNeeds(approvals, settings({ interactiveApprovals: false }), true)).toEqual(["warm_process"]);
    expect(runNeeds({ supportsApprovals: false }, settings(), false)).toEqual([]);
    expect(runNeeds(approvals, settings({ permissionMode: "auto", providerOptions: { profile: "ci" } }), false)).toEqual(["profiles"]);
  });

  it("an explicit sdk lane that lacks one is config_invalid naming it; auto runs core and says why; core is untouched", () => {
    const explicit = resolveLane("codex", "sdk", "local", yes);
    const err = catchError(() => requireLaneCapabilities(explicit, ["approvals"]));
    expect(err).toMatchObject({ kind: "config_invalid", reasonCode: "sdk_capability_missing", field: "lane", details: { capability: "approvals", sdk_runtime: "@openai/codex-sdk" } });
    const auto = requireLaneCapabilities(resolveLane("codex", "auto", "local", yes), ["approvals"]);
    expect(auto).toMatchObject({ requestedLane: "auto", preferredLane: "sdk", lane: "core", backend: "core", laneFallbackReason: "sdk_lacks_approvals", sdkVersion: "1.2.3" });
    expect(auto.capabilities).toEqual([...providerCatalog("codex").coreCapabilities]);
    // What the sdk lane has passes; the first missing need is the one named.
    expect(requireLaneCapabilities(resolveLane("claude", "sdk", "local", yes), ["approvals"]).lane).toBe("sdk");
    expect(requireLaneCapabilities(resolveLane("claude", "auto", "local", yes), ["approvals", "warm_process"]).laneFallbackReason).toBe("sdk_lacks_warm_process");
    const core = resolveLane("codex", "core", "local", yes);
    expect(requireLaneCapabilities(core, ["approvals", "warm_process"])).toEqual(core);
    const remote = resolveLane("codex", "auto", "remote_node", yes);
    expect(requireLaneCapabilities(remote, ["approvals"])).toEqual(remote);
  });
});

describe("DraftChannel", () => {
  const draft = (i: number): EventDraft => ({ payload: payload("assistantDelta", { content: String(i), index: 0 }) });
  const contents = (batches: EventDraft[][]) => batches.flat().map((d) => (d.payload?.$case === "assistantDelta" ? d.payload.value.content : "?"));

  it("delivers in order, in batches, and then the failure after what was pushed before it", async () => {
    const channel = new DraftChannel();
    channel.push(draft(1), draft(2));
    channel.push(draft(3));
    channel.fail(new Error("boom"));
    channel.push(draft(4));
    const got: EventDraft[][] = [];
    await expect(
      (async () => {
        for await (const batch of channel) got.push(batch);
      })(),
    ).rejects.toThrow("boom");
    expect(contents(got)).toEqual(["1", "2", "3"]);
  });

  it("a producer waits for room once the reader is far behind, and goes on when it reads", async () => {
    const channel = new DraftChannel();
    for (let i = 0; i < 1024; i++) channel.push(draft(i));
    let waited = false;
    const room = channel.waitForRoom().then(() => (waited = true));
    await Promise.resolve();
    expect(waited).toBe(false);
    const reader = channel[Symbol.asyncIterator]();
    await reader.next();
    await room;
    expect(waited).toBe(true);
    channel.end();
  });
});

describe("SdkChild: a CLI started for an SDK", () => {
  const limits = { maxLineBytes: 1000, stderrTailBytes: 4096, killGraceMs: 300 };

  it("its process group is adopted while it runs and released when it ends; stderr lines and tail are kept", async () => {
    const stderr: string[] = [];
    const child = new SdkChild({ command: "/bin/sh", args: ["-c", "echo one >&2; echo two >&2; read line"], cwd: tmpdir(), env: { PATH: "/usr/bin:/bin" }, preamble: [] }, limits, (l: string) => stderr.push(l));
    expect(liveCliProcesses()).toContain(child.pid);
    child.child.stdin!.end("go\n");
    const end = await child.ended;
    expect(end).toMatchObject({ code: 0, signal: null });
    expect(end.stderrTail).toBe("one\ntwo\n");
    expect(stderr).toEqual(["one", "two"]);
    expect(liveCliProcesses()).not.toContain(child.pid);
  });

  it("a stdout line over the bound kills it and is reported", async () => {
    const child = new SdkChild({ command: "/bin/sh", args: ["-c", "head -c 5000 /dev/zero | tr '\\0' a; echo; sleep 30"], cwd: tmpdir(), env: { PATH: "/usr/bin:/bin" }, preamble: [] }, limits, () => undefined);
    child.stdout.resume();
    const end = await child.ended;
    expect(end.signal).toBe("SIGKILL");
    expect(child.overflow).toBeGreaterThan(1000);
  });

  it("terminate() escalates to SIGKILL for a CLI that ignores SIGTERM", async () => {
    const child = new SdkChild({ command: "/bin/sh", args: ["-c", "trap '' TERM; echo ready; sleep 30 & wait"], cwd: tmpdir(), env: { PATH: "/usr/bin:/bin" }, preamble: [] }, limits, () => undefined);
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    const end = await child.terminate("SIGTERM");
    expect(end.signal).toBe("SIGKILL");
  });
});

describe("SdkLauncher: how the codex SDK's CLI starts", () => {
  const run = (launcher: string, env: Record<string, string>, args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn(launcher, args, { env: { PATH: "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.on("exit", (code) => resolve({ code, out, err }));
    });

  it("writes its pid, enters the checked cwd, and execs the CLI as the leader of its own session (same pid), without its variables", async () => {
    const launcher = new SdkLauncher();
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "asm-launch-")));
    const pidFile = launcher.pidFile("run-1");
    const script = 'echo "$$ $(cut -d" " -f6 /proc/$$/stat) $(pwd -P) ${ASM_SDK_CLI:-unset}"';
    const got = await run(launcher.path, { ASM_SDK_CLI: "/bin/sh", ASM_SDK_CWD: dir, ASM_SDK_PID_FILE: pidFile }, ["-c", script]);
    expect(got.code).toBe(0);
    const [pid, session, cwd, leftover] = got.out.trim().split(" ");
    expect(readFileSync(pidFile, "utf8").trim()).toBe(pid);
    expect(session).toBe(pid);
    expect(cwd).toBe(dir);
    expect(leftover).toBe("unset");
    launcher.dispose();
  });

  it("refuses a directory swapped for a symlink (the cwd guard's code and words)", async () => {
    const launcher = new SdkLauncher();
    const base = realpathSync(mkdtempSync(join(tmpdir(), "asm-launch-")));
    const link = join(base, "link");
    symlinkSync(tmpdir(), link);
    const got = await run(launcher.path, { ASM_SDK_CLI: "/bin/echo", ASM_SDK_CWD: link, ASM_SDK_PID_FILE: launcher.pidFile("run-2") }, ["started"]);
    expect(got.code).toBe(86);
    expect(got.err).toContain("asm-cwd-guard:");
    expect(got.out).toBe("");
    launcher.dispose();
  });
});
