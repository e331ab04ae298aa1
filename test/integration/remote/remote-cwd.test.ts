import { spawn } from "node:child_process";
import { existsSync, mkdirSync, realpathSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider, RunStatus, type Event } from "@asm/shared";
import { call, collectEvents } from "../../helpers/grpc-client.js";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../../helpers/remote-setup.js";
import { createSession } from "../../helpers/sessions.js";
import { readRecord } from "../../helpers/test-controller.js";

// Acceptance 6: a remote run's working directory is confined to the executor's workspace, symlinks
// resolved: what leads outside is refused (permission_denied remote_cwd_outside_workspace) before the
// CLI is spawned; what stays inside is used, as its real path.

let r: RemoteSetup;
/** Real path of the executor's workspace. */
let ws: string;
let counter = 0;

beforeAll(async () => {
  r = await startRemoteSetup();
  ws = realpathSync(r.executor.workspace);
  mkdirSync(join(ws, "sub", "dir"), { recursive: true });
  mkdirSync(join(ws, "by-cwd"));
  mkdirSync(join(ws, "loses"));
  // Points out of the workspace (to the controller's scratch directory).
  symlinkSync(r.t.dir, join(ws, "escape"));
  // Points inside the workspace.
  symlinkSync(join(ws, "sub"), join(ws, "inner-link"));
});
afterAll(async () => {
  await r?.stop();
});

/** Runs the fake CLI remotely with `driverOpts` (and `cwd`), recording into a fresh file outside the workspace. */
async function run(driverOpts: Record<string, unknown>, cwd?: string): Promise<{ runId: string; events: Event[]; record: string }> {
  counter += 1;
  const runId = `remote-cwd-${counter}`;
  const record = join(r.t.dir, `${runId}.jsonl`);
  const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, {
    ...remoteOptions("executor-a", driverOpts, cwd === undefined ? {} : { cwd }),
    cliPath: r.t.fakeClaude,
    env: { FAKE_CLI_RECORD: record },
  });
  const events = await collectEvents(r.t.client.streamRun({ sessionId, prompt: "where am I", runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
  return { runId, events, record };
}

async function expectRefused(driverOpts: Record<string, unknown>, reasonCode: string, cwd?: string): Promise<void> {
  const { runId, events, record } = await run(driverOpts, cwd);
  const last = events.at(-1)!;
  expect(last.payload?.$case, JSON.stringify(last.payload)).toBe("error");
  const error = last.payload?.$case === "error" ? last.payload.value.error : undefined;
  expect(error?.kind).toBe(reasonCode === "remote_cwd_outside_workspace" ? "permission_denied" : "config_invalid");
  expect(error?.reasonCode).toBe(reasonCode);
  expect(error?.field).toMatch(/driver_opts\.remote_cwd$/);
  expect(error?.details).toMatchObject({ executor: "executor-a" });
  expect(events.some((e) => e.payload?.$case === "runStarted")).toBe(false);
  const stored = (await call(r.t.client, "getRun", { runId })).run!;
  expect(stored.status).toBe(RunStatus.RUN_STATUS_FAILED);
  expect(stored.result?.error?.reasonCode).toBe(reasonCode);
  expect(existsSync(record)).toBe(false);
}

async function expectCwd(driverOpts: Record<string, unknown>, expected: string, cwd?: string): Promise<void> {
  const { events, record } = await run(driverOpts, cwd);
  expect(events.at(-1)!.payload?.$case, JSON.stringify(events.at(-1)!.payload)).toBe("result");
  expect(readRecord(record).find((x) => x.t === "start")?.cwd).toBe(expected);
  const started = events[0]!.payload?.$case === "runStarted" ? events[0]!.payload.value : undefined;
  expect(started?.cwd).toBe(expected);
}

describe("remote_cwd is confined to the executor's workspace", () => {
  it("refuses ../x", async () => {
    await expectRefused({ remote_cwd: "../x" }, "remote_cwd_outside_workspace");
  });

  it("refuses an existing absolute directory outside the workspace", async () => {
    await expectRefused({ remote_cwd: r.t.dir }, "remote_cwd_outside_workspace");
  });

  it("refuses a symlink inside the workspace that points outside, and paths through it", async () => {
    await expectRefused({ remote_cwd: "escape" }, "remote_cwd_outside_workspace");
    await expectRefused({ remote_cwd: join(ws, "escape") }, "remote_cwd_outside_workspace");
    // Not there yet, but it would be outside: judged by where it leads, not reported as missing.
    await expectRefused({ remote_cwd: "escape/not-yet" }, "remote_cwd_outside_workspace");
  });

  it("refuses a cwd option (no remote_cwd) outside the workspace", async () => {
    await expectRefused({}, "remote_cwd_outside_workspace", r.t.dir);
  });

  it("reports a missing directory inside the workspace as remote_cwd_not_found", async () => {
    await expectRefused({ remote_cwd: "sub/missing" }, "remote_cwd_not_found");
  });

  it("runs in a relative subdirectory", async () => {
    await expectCwd({ remote_cwd: "sub/dir" }, join(ws, "sub", "dir"));
  });

  it("runs in an absolute directory inside the workspace", async () => {
    await expectCwd({ remote_cwd: join(ws, "sub") }, join(ws, "sub"));
  });

  it("runs in the real path of a symlink that points inside", async () => {
    await expectCwd({ remote_cwd: "inner-link" }, join(ws, "sub"));
    await expectCwd({ remote_cwd: "inner-link/dir" }, join(ws, "sub", "dir"));
  });

  it("without remote_cwd, runs in the workspace root", async () => {
    await expectCwd({}, ws);
  });

  it("uses the cwd option (no remote_cwd) as a directory on the executor", async () => {
    await expectCwd({}, join(ws, "by-cwd"), join(ws, "by-cwd"));
  });

  it("remote_cwd wins over cwd when both are set", async () => {
    await expectCwd({ remote_cwd: "sub/dir" }, join(ws, "sub", "dir"), join(ws, "loses"));
  });

  it("a directory swapped for a symlink between the check and the spawn never hosts a CLI (60 runs against a swapping loop)", async () => {
    // ws/race is, by turns, a real directory and a symlink to a directory outside; both hold x/.
    const outside = join(r.t.dir, "race-outside");
    mkdirSync(join(outside, "x"), { recursive: true });
    mkdirSync(join(ws, "race", "x"), { recursive: true });
    symlinkSync(outside, join(ws, "race.link"));
    const swapLoop = `
      const fs = require("fs"), path = require("path");
      const ws = process.argv[1], live = path.join(ws, "race"), dir = path.join(ws, "race.dir"), link = path.join(ws, "race.link");
      const until = Date.now() + 120000;
      while (Date.now() < until) {
        try { fs.renameSync(live, dir); fs.renameSync(link, live); fs.renameSync(live, link); fs.renameSync(dir, live); } catch {}
      }`;
    const swapper = spawn(process.execPath, ["-e", swapLoop, ws], { stdio: "ignore" });
    const outcomes: { runId: string; events: Event[]; record: string }[] = [];
    try {
      for (let i = 0; i < 60; i++) outcomes.push(await run({ remote_cwd: "race/x" }));
    } finally {
      swapper.kill("SIGKILL");
    }
    let ranInside = 0;
    for (const o of outcomes) {
      const cwd = readRecord(o.record).find((x) => x.t === "start")?.cwd as string | undefined;
      const last = o.events.at(-1)!;
      if (cwd !== undefined) {
        // Wherever the swaps moved it since, the directory the CLI started in is inside the workspace.
        expect(cwd.startsWith(`${ws}/`), `${o.runId} ran in ${cwd}`).toBe(true);
        ranInside += 1;
      } else {
        expect(last.payload?.$case === "error" && last.payload.value.error?.reasonCode).toMatch(/^remote_cwd_(outside_workspace|not_found)$/);
      }
    }
    expect(ranInside + outcomes.filter((o) => o.events.at(-1)!.payload?.$case === "error").length).toBe(60);
  }, 120_000);
});
