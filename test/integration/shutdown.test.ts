/**
 * The controller's two-stage shutdown, on a real controller process: at SIGTERM health turns
 * NOT_SERVING, new calls are refused with UNAVAILABLE, and every run ends with its own terminal
 * error (transport_error / controller_shutdown, not a user's cancel); a second SIGTERM kills what
 * still runs; the process exits 0.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as Status, type ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, inject, it } from "vitest";
import { fromGrpcError, Provider, type Event } from "@asm/shared";
import { startControllerProcess, type ControllerProcess } from "../helpers/controller-process.js";
import { call, callError, collectEvents, eventsOf, waitForEvent } from "../helpers/grpc-client.js";
import { healthClient } from "../helpers/health-client.js";
import { runOptions } from "../helpers/sessions.js";

const fakeClaude = (): string => inject("fakeClaudePath");

const started: ControllerProcess[] = [];

async function start(env: Record<string, string>): Promise<ControllerProcess> {
  const c = await startControllerProcess({ ASM_SHUTDOWN_GRACE_MS: "600000", ...env }, mkdtempSync(join(tmpdir(), "asm-shutdown-")));
  started.push(c);
  return c;
}

// A test that failed half-way leaves no controller (nor its CLIs) behind.
afterEach(async () => {
  for (const c of started.splice(0)) await c.kill("SIGKILL");
});

async function sessionOn(c: ControllerProcess): Promise<string> {
  const res = await call(c.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ cliPath: fakeClaude() }) } });
  return res.session!.sessionId;
}

const exitOf = (c: ControllerProcess): Promise<number | null> =>
  c.proc.exitCode !== null ? Promise.resolve(c.proc.exitCode) : new Promise((resolve) => c.proc.once("exit", (code) => resolve(code)));

const terminalError = (events: Event[]) => {
  const last = events.at(-1)!;
  return last.payload?.$case === "error" ? last.payload.value.error : undefined;
};

describe("two-stage shutdown of a controller process", () => {
  it("SIGTERM: a running run ends with its own terminal error, the call ends OK, the process exits 0", async () => {
    const c = await start({});
    const sessionId = await sessionOn(c);
    const s = c.client.streamRun({ sessionId, prompt: "[[scenario:hang]]", runId: "shutdown-graceful", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const all = collectEvents(s);
    await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    const exited = exitOf(c);
    c.proc.kill("SIGTERM");
    const events = await all;
    expect(terminalError(events)).toMatchObject({ kind: "transport_error", reasonCode: "controller_shutdown", retryable: true });
    expect(await exited).toBe(0);
    c.client.close();
  });

  it("while it drains: health NOT_SERVING, new calls UNAVAILABLE; a second SIGTERM kills the CLI that holds the drain", async () => {
    // A CLI that ignores SIGINT/SIGTERM, with a kill grace that would outlast the test: only the second signal ends it.
    const c = await start({ ASM_KILL_GRACE_MS: "60000" });
    const sessionId = await sessionOn(c);
    const s = c.client.streamRun({ sessionId, prompt: "[[scenario:stubborn]]", runId: "shutdown-held", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const events: Event[] = [];
    s.on("data", (m) => events.push(...eventsOf(m)));
    const ended = new Promise<void>((resolve, reject) => {
      s.on("end", resolve);
      s.on("error", reject);
    });
    await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    const exited = exitOf(c);
    c.proc.kill("SIGTERM");

    const health = healthClient(`127.0.0.1:${c.port}`);
    await expect.poll(() => health.check(""), { timeout: 10_000 }).toBe("NOT_SERVING");
    expect(await health.check("asm.v1.ControllerService")).toBe("NOT_SERVING");
    health.close();

    const refused = await callError(c.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: undefined });
    expect(refused.code).toBe(Status.UNAVAILABLE);
    expect(refused.details).toContain("shutting down");
    expect(refused.error).toMatchObject({ kind: "transport_error", reasonCode: "controller_shutting_down", retryable: true });
    const late = c.client.streamRun({ sessionId, prompt: "too late", runId: "shutdown-late", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const lateError = await new Promise<ServiceError>((resolve) => {
      late.on("data", () => resolve(new Error("a refused call streamed an event") as ServiceError));
      late.on("error", (err: ServiceError) => resolve(err));
    });
    expect(lateError.code).toBe(Status.UNAVAILABLE);
    expect(fromGrpcError(lateError).reasonCode).toBe("controller_shutting_down");

    // The running run still waits on its CLI: nothing ended it yet.
    expect(events.some((e) => e.payload?.$case === "error" || e.payload?.$case === "result")).toBe(false);
    c.proc.kill("SIGTERM");
    await ended;
    expect(terminalError(events)).toMatchObject({ kind: "transport_error", reasonCode: "controller_shutdown" });
    expect(await exited).toBe(0);
    c.client.close();
  });
});
