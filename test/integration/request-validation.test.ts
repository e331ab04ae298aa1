/**
 * Client mistakes are INVALID_ARGUMENT naming the field, never INTERNAL; ids and prompts are
 * validated at the API; a run's errors say which provider; a spawn that fails the same way every
 * time is not retryable.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as Status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromGrpcError, Provider, type Event } from "@asm/shared";
import { call, callError, collectEvents } from "../helpers/grpc-client.js";
import { createFakeSession, runOptions } from "../helpers/sessions.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;
beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => {
  await t?.stop();
});

function streamError(s: { on(e: "data", f: () => void): unknown; on(e: "error", f: (err: ServiceError) => void): unknown }): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    s.on("data", () => reject(new Error("the call streamed an event")));
    s.on("error", resolve);
  });
}

const terminalError = (events: Event[]) => {
  const last = events.at(-1)!;
  return last.payload?.$case === "error" ? last.payload.value.error : undefined;
};

describe("requests that do not decode are the client's mistake", () => {
  it("driver_opts nested past the decoder's depth limit: INVALID_ARGUMENT on options", async () => {
    let deep: Record<string, unknown> = { x: 1 };
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const res = await callError(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ driverOpts: deep }) } });
    expect(res.code).toBe(Status.INVALID_ARGUMENT);
    expect(res.error).toMatchObject({ kind: "config_invalid", reasonCode: "request_undecodable", field: "options" });
  });

  it("WatchRun after_sequence past 2^53 - 1: INVALID_ARGUMENT on after_sequence", async () => {
    const err = await streamError(t.client.watchRun({ runId: "any", afterSequence: 2 ** 60, maxBatchEvents: 0 }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(fromGrpcError(err)).toMatchObject({ reasonCode: "request_undecodable", field: "after_sequence" });
  });
});

describe("client-chosen ids", () => {
  it.each([
    ["a 1 MiB id", "s".repeat(1024 * 1024)],
    ["an id with a newline", "a\nb"],
    ["a path", "../../etc"],
    ["an id with a replacement character (what invalid UTF-8 decodes to)", "ab\uFFFDcd"],
    ["a dot first", ".hidden"],
  ])("session_id: %s is INVALID_ARGUMENT / invalid_id", async (_name, id) => {
    const res = await callError(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: id, options: { defaults: runOptions({ cliPath: t.fakeClaude }) } });
    expect(res.code).toBe(Status.INVALID_ARGUMENT);
    expect(res.error).toMatchObject({ reasonCode: "invalid_id", field: "session_id" });
  });

  it("run_id: a bad one is refused before the run exists; a good one is used", async () => {
    const sessionId = await createFakeSession(t);
    const err = await streamError(t.client.streamRun({ sessionId, prompt: "hi", runId: "no/slashes", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(fromGrpcError(err)).toMatchObject({ reasonCode: "invalid_id", field: "run_id" });
    const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "hi", runId: "job-7.retry:2_a", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(events[0]!.runId).toBe("job-7.retry:2_a");
  });
});

describe("prompts", () => {
  it("a NUL character is INVALID_ARGUMENT on prompt", async () => {
    const sessionId = await createFakeSession(t);
    const err = await streamError(t.client.streamRun({ sessionId, prompt: "a\0b", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(fromGrpcError(err)).toMatchObject({ reasonCode: "prompt_invalid", field: "prompt" });
  });

  it("a 200 kB prompt for a CLI that takes it on its command line (amp) is refused at submit, not a failed spawn", async () => {
    const res = await call(t.client, "createSession", { provider: Provider.PROVIDER_AMP, sessionId: "", options: { defaults: runOptions({ cliPath: t.fakeClaude }) } });
    const err = await streamError(t.client.streamRun({ sessionId: res.session!.sessionId, prompt: "p".repeat(200_000), runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(fromGrpcError(err)).toMatchObject({ reasonCode: "prompt_too_long_for_argv", field: "prompt" });
  });

  it("an empty prompt names the field once", async () => {
    const sessionId = await createFakeSession(t);
    const err = await streamError(t.client.streamRun({ sessionId, prompt: "", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toBe("config_invalid: prompt: must not be empty");
  });
});

describe("error fields", () => {
  it("a field path is named once in the status text", async () => {
    const res = await callError(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ streamTimeoutMs: 0 }) } });
    expect(res.details.match(/stream_timeout_ms/g)).toHaveLength(1);
  });

  it("a local run's terminal error names its provider, as a remote one does", async () => {
    const sessionId = await createFakeSession(t);
    const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "[[scenario:crash]] [[code:9]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(terminalError(events)).toMatchObject({ kind: "transport_error", exitCode: 9, provider: "claude" });
  });

  it("a spawn that fails the same way every time (its interpreter is missing) is spawn_failed, not retryable", async () => {
    const cli = join(mkdtempSync(join(tmpdir(), "asm-broken-cli-")), "broken-cli");
    writeFileSync(cli, "#!/nonexistent/interpreter\n", { mode: 0o755 });
    // The operator lets clients name this one binary.
    const own = await startTestController({ policy: { client_cli_paths: [cli] } });
    try {
      const res = await call(own.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ cliPath: cli }) } });
      const events = await collectEvents(own.client.streamRun({ sessionId: res.session!.sessionId, prompt: "hi", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
      expect(terminalError(events), JSON.stringify(terminalError(events))).toMatchObject({ reasonCode: "spawn_failed", retryable: false });
    } finally {
      await own.stop();
    }
  });
});
