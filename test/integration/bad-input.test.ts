import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PermissionMode, Provider, RunStatus, type Event } from "@asm/shared";
import { call, callError, collectEvents } from "../helpers/grpc-client.js";
import { createFakeSession, runOptions } from "../helpers/sessions.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;

beforeAll(async () => {
  t = await startTestController({ env: { ASM_MAX_LINE_BYTES: "65536", ASM_STDERR_TAIL_BYTES: "512" } });
});
afterAll(async () => {
  await t?.stop();
});

const errorOf = (events: Event[]) => {
  const last = events.at(-1)!;
  return last.payload?.$case === "error" ? last.payload.value.error : undefined;
};
const run = (sessionId: string, prompt: string, runId = "") => collectEvents(t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));

describe("bad options are INVALID_ARGUMENT naming the field, at CreateSession", () => {
  const cases: [string, Parameters<typeof runOptions>[0], string][] = [
    ["stream timeout of zero", { streamTimeoutMs: 0 }, "options.defaults.stream_timeout_ms"],
    ["relative cwd", { cwd: "relative/dir" }, "options.defaults.cwd"],
    // Inside the suite's workspace root (the temporary directory), so it is the directory's absence that is refused.
    ["missing cwd", { cwd: join(tmpdir(), "asm-definitely-not-here") }, "options.defaults.cwd"],
    ["bad env name", { env: { "BAD-NAME": "x" } }, "options.defaults.env.BAD-NAME"],
    ["unknown provider option", { providerOptions: { no_such_option: 1 } }, "options.defaults.provider_options.no_such_option"],
    ["wrong provider option type", { providerOptions: { max_turns: "many" } }, "options.defaults.provider_options.max_turns"],
    ["bad remote option", { driverOpts: { remote_connect_timeout_ms: -5 } }, "options.defaults.driver_opts.remote_connect_timeout_ms"],
    ["explicit sdk lane without the SDK", { lane: 3 }, "options.defaults.lane"],
    ["unknown permission mode value", { permissionMode: 42 as PermissionMode }, "options.defaults.permission_mode"],
  ];
  for (const [name, defaults, field] of cases) {
    it(name, async () => {
      const res = await callError(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions(defaults) } });
      expect(res.code).toBe(Status.INVALID_ARGUMENT);
      expect(res.error.kind).toBe("config_invalid");
      expect(res.error.field).toBe(field);
      expect(res.details).toContain(field);
    });
  }

  it("limits out of range and an unspecified provider", async () => {
    const limits = await callError(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions(), maxConcurrentRuns: 0 } });
    expect(limits.error.field).toBe("options.max_concurrent_runs");
    const provider = await callError(t.client, "createSession", { provider: Provider.PROVIDER_UNSPECIFIED, sessionId: "", options: undefined });
    expect(provider.code).toBe(Status.INVALID_ARGUMENT);
    expect(provider.error.field).toBe("provider");
  });

  it("bad per-run overrides fail the call, naming the field", async () => {
    const sessionId = await createFakeSession(t);
    const res = await callError(t.client, "query", { sessionId, prompt: "x", runId: "", overrides: runOptions({ runDeadlineMs: 0 }), provider: 0, sessionOptions: undefined });
    expect(res.code).toBe(Status.INVALID_ARGUMENT);
    expect(res.error.field).toBe("overrides.run_deadline_ms");
    const empty = await callError(t.client, "query", { sessionId, prompt: "", runId: "", overrides: undefined, provider: 0, sessionOptions: undefined });
    expect(empty.error.field).toBe("prompt");
  });
});

describe("bad CLIs and bad output", () => {
  it("a missing CLI ends the run with cli_not_found", async () => {
    const sessionId = await createFakeSession(t, { cliPath: "/nonexistent/bin/claude" });
    const events = await run(sessionId, "hi", "missing-cli");
    expect(events).toHaveLength(1);
    expect(errorOf(events)).toMatchObject({ kind: "cli_not_found", provider: "claude" });
    const r = (await call(t.client, "getRun", { runId: "missing-cli" })).run!;
    expect(r.status).toBe(RunStatus.RUN_STATUS_FAILED);
  });

  it("a CLI missing from PATH names the override variable", async () => {
    const sessionId = await createFakeSession(t, { cliPath: undefined });
    const events = await run(sessionId, "hi");
    expect(errorOf(events)?.kind).toBe("cli_not_found");
    expect(errorOf(events)?.message).toContain("ASM_CLAUDE_CLI_PATH");
  });

  it("garbage lines become raw events and the run still completes", async () => {
    const sessionId = await createFakeSession(t);
    const events = await run(sessionId, "[[scenario:garbage]]");
    const raws = events.flatMap((e) => (e.payload?.$case === "raw" ? [e.payload.value.content] : []));
    expect(raws).toContain("this is not json {{{");
    expect(raws.some((r) => r.includes('"mystery"'))).toBe(true);
    expect(events.at(-1)!.payload?.$case).toBe("result");
  });

  it("a line over the cap is buffer_overflow; what the CLI wrote before it is delivered first", async () => {
    const sessionId = await createFakeSession(t);
    const events = await run(sessionId, "[[scenario:longline]] [[n:200000]] [[before:20]]");
    expect(errorOf(events)).toMatchObject({ kind: "buffer_overflow", reasonCode: "line_too_long" });
    const texts = events.flatMap((e) => (e.payload?.$case === "assistantMessage" ? [e.payload.value.text] : []));
    expect(texts).toEqual(Array.from({ length: 20 }, (_, i) => `b${i}`));
    expect(events.at(-1)!.payload?.$case).toBe("error");
  });

  it("a non-zero exit carries the exit code and a bounded stderr tail", async () => {
    const sessionId = await createFakeSession(t);
    const events = await run(sessionId, "[[scenario:crash]] [[code:7]]");
    const err = errorOf(events)!;
    expect(err.kind).toBe("transport_error");
    expect(err.exitCode).toBe(7);
    expect(err.stderrTail).toContain("fake crash");
    expect(Buffer.byteLength(err.stderrTail)).toBeLessThanOrEqual(512);
    expect(events.some((e) => e.payload?.$case === "stderr")).toBe(true);
  });

  it("a clean exit without a result is run_completed", async () => {
    const sessionId = await createFakeSession(t);
    const events = await run(sessionId, "[[scenario:exit0]]");
    expect(events.at(-1)!.payload?.$case).toBe("runCompleted");
  });

  it("a provider error result ends the run with a typed error", async () => {
    const sessionId = await createFakeSession(t);
    const events = await run(sessionId, "[[scenario:error]]");
    expect(errorOf(events)).toMatchObject({ kind: "provider_error", provider: "claude" });
  });
});
