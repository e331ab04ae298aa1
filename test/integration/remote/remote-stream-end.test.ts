/**
 * A remote run's Execute stream ends by the protocol (executor.proto): after the run's terminal
 * event the controller still reads `exit`, records how the CLI ended, and half-closes; it never
 * cancels the stream of a run that ended normally, so the executor holds no lease for it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider, SYSTEM_PRINCIPAL } from "@asm/shared";
import { call, collectEvents } from "../../helpers/grpc-client.js";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../../helpers/remote-setup.js";
import { createSession, runOptions } from "../../helpers/sessions.js";
import { eventually } from "../../helpers/test-controller.js";

let r: RemoteSetup;

beforeAll(async () => {
  r = await startRemoteSetup();
});
afterAll(async () => {
  await r?.stop();
});

/** The executor's log lines (pino JSON) about one run. */
function executorLog(runId: string): { msg: string; detached?: boolean }[] {
  return r.executor
    .output()
    .split("\n")
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { runId?: string; msg: string; detached?: boolean };
        return entry.runId === runId ? [entry] : [];
      } catch {
        return [];
      }
    });
}

/** GetRun once it knows how the CLI ended (the process is gone shortly after the terminal event). */
async function runWithExit(runId: string) {
  const get = async () => (await call(r.t.client, "getRun", { runId })).run!;
  for (let run = await get(); ; run = await get()) {
    if (run.cliExit) return run;
    expect(await eventually(() => r.t.app.controller.getRun(runId, SYSTEM_PRINCIPAL).cliExit !== undefined, 10_000)).toBe(true);
  }
}

async function runTo(runId: string, prompt: string, remote = true): Promise<void> {
  const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, remote ? { ...remoteOptions("executor-a"), cliPath: r.t.fakeClaude } : { cliPath: r.t.fakeClaude, cwd: r.t.dir });
  await collectEvents(r.t.client.streamRun({ sessionId, prompt, runId, overrides: remote ? undefined : runOptions(), keepRunning: false, maxBatchEvents: 0 }));
}

describe("the end of a remote run's stream", () => {
  it("a normal run: exit read, then half-close; the executor finishes the stream attached, with no lease", async () => {
    await runTo("end-normal", "hello");
    expect(await eventually(() => executorLog("end-normal").some((e) => e.msg === "run stream finished"), 10_000)).toBe(true);
    const log = executorLog("end-normal");
    expect(log.find((e) => e.msg === "run stream finished")!.detached).toBe(false);
    expect(log.map((e) => e.msg)).not.toContain("controller gone; the run's CLI is kept for its lease");
    const run = await runWithExit("end-normal");
    expect(run.cliExit).toEqual({ exitCode: 0, signal: "" });
  });

  it("a remote CLI that fails: its exit code reaches GetRun", async () => {
    await runTo("end-crash", "[[scenario:crash]] [[code:9]]");
    const run = await runWithExit("end-crash");
    expect(run.cliExit).toEqual({ exitCode: 9, signal: "" });
    expect(run.result?.error).toMatchObject({ kind: "transport_error", exitCode: 9 });
  });

  it("a local run records its CLI's exit the same way", async () => {
    await runTo("end-local", "hello", false);
    const run = await runWithExit("end-local");
    expect(run.metadata?.executionMode).toBe("local");
    expect(run.cliExit).toEqual({ exitCode: 0, signal: "" });
  });
});
