/**
 * The TypeScript client library (`@asm/client`) through a loopback proxy that drops its
 * connections: a run's stream is cut three times mid-stream and the listener is restarted once,
 * and the consumer still sees every event exactly once, in order, with no gap, up to the terminal
 * event. Then the controller process itself is killed and restarted on its store mid-run. Real
 * controller, real fake-CLI process, real gRPC.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AsmClient, Provider, isTerminal, runOptions, type Event } from "@asm/client";
import { startControllerProcess } from "../helpers/controller-process.js";
import { startExecutorProcess } from "../helpers/executor-process.js";
import { collectEvents } from "../helpers/grpc-client.js";
import { createTestPki } from "../helpers/pki.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions } from "../helpers/remote-setup.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

describe("@asm/client: a run as an async iterable that re-attaches by itself", () => {
  let t: TestController;
  let proxy: TcpProxy;
  let client: AsmClient;

  beforeAll(async () => {
    t = await startTestController();
    proxy = await startTcpProxy(t.app.port);
    client = new AsmClient({ address: proxy.address });
  });

  afterAll(async () => {
    client?.close();
    await proxy?.close();
    await t?.stop();
  });

  const session = () => client.createSession(Provider.PROVIDER_CLAUDE, { defaults: runOptions({ cliPath: t.fakeClaude, cwd: t.dir }) });

  it("three dropped connections and a restarted listener mid-stream: every event exactly once, in order, no gap", async () => {
    const { sessionId } = await session();
    const reattaches: string[] = [];
    const run = client.run(sessionId, "[[scenario:slow]] [[n:400]] [[ms:8]]", { onReattach: (err) => reattaches.push(err.reasonCode), maxBatchEvents: 8 });
    const seen: Event[] = [];
    const faults = new Map<number, () => Promise<void> | void>([
      [40, () => proxy.drop()],
      [120, () => proxy.drop()],
      [200, () => proxy.drop()],
      [280, () => proxy.restartListener(300)],
    ]);
    for await (const event of run) {
      seen.push(event);
      const fault = faults.get(seen.length);
      if (fault) await fault();
    }
    expect(reattaches.length).toBeGreaterThanOrEqual(4);
    const sequences = seen.map((e) => Number(e.sequence));
    expect(sequences).toEqual(sequences.map((_, i) => i + 1));
    expect(isTerminal(seen.at(-1)!)).toBe(true);
    expect(seen.at(-1)!.payload?.$case).toBe("result");
    // The same run read once, directly, without faults: the same events.
    const direct = await collectEvents(t.client.watchRun({ runId: run.runId, afterSequence: 0, maxBatchEvents: 0 }));
    expect(seen.map((e) => [Number(e.sequence), e.payload?.$case])).toEqual(direct.map((e) => [Number(e.sequence), e.payload?.$case]));
  });

  it("break leaves the loop and interrupts the run; watch() follows an existing run from a sequence", async () => {
    const { sessionId } = await session();
    const run = client.run(sessionId, "[[scenario:slow]] [[n:400]] [[ms:20]]");
    let n = 0;
    for await (const _event of run) if (++n === 5) break;
    const ended = await collectEvents(t.client.watchRun({ runId: run.runId, afterSequence: 0, maxBatchEvents: 0 }));
    const last = ended.at(-1)!.payload;
    expect(last?.$case === "error" ? last.value.error?.kind : "").toBe("user_cancelled");
    const rest: number[] = [];
    for await (const event of client.watch(run.runId, 3)) rest.push(Number(event.sequence));
    expect(rest[0]).toBe(4);
    expect(rest.at(-1)).toBe(ended.length);
  });

  it("an AbortSignal stops the stream and interrupts the run; a refused start is a typed error", async () => {
    const { sessionId } = await session();
    const abort = new AbortController();
    const run = client.run(sessionId, "[[scenario:slow]] [[n:400]] [[ms:20]]", { signal: abort.signal });
    let n = 0;
    await expect(
      (async () => {
        for await (const _event of run) if (++n === 3) abort.abort(new Error("enough"));
      })(),
    ).rejects.toThrow("enough");
    const ended = await collectEvents(t.client.watchRun({ runId: run.runId, afterSequence: 0, maxBatchEvents: 0 }));
    expect(ended.at(-1)!.payload?.$case).toBe("error");
    await expect(client.getSession("ses_nope")).rejects.toMatchObject({ kind: "not_found" });
    const refused = client.run(sessionId, "");
    await expect((async () => { for await (const _ of refused) void _; })()).rejects.toMatchObject({ reasonCode: "prompt_empty", field: "prompt" });
  });

  it("query() returns the projected result", async () => {
    const { sessionId } = await session();
    const result = await client.query(sessionId, "hello [[echo]]");
    expect(result.text).toContain("hello");
  });
});

describe("@asm/client across a controller restart (SQLite store)", () => {
  it("the controller is SIGKILLed mid-run and restarted on its data directory: the remote run's events arrive exactly once, in order", async () => {
    const root = mkdtempSync(join(tmpdir(), "asm-client-restart-"));
    const pki = createTestPki(join(root, "pki"));
    const executor = await startExecutorProcess({ pki });
    const env = { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `executor-a=${executor.address}`, ASM_DATA_DIR: join(root, "data") };
    let controller = await startControllerProcess(env, root);
    const client = new AsmClient({ address: `127.0.0.1:${controller.port}` });
    try {
      const { sessionId } = await client.createSession(Provider.PROVIDER_CLAUDE, { defaults: { ...remoteOptions("executor-a"), cliPath: inject("fakeClaudePath") } });
      const reattaches: string[] = [];
      const run = client.run(sessionId, "[[scenario:slow]] [[n:80]] [[ms:40]]", { onReattach: (err) => reattaches.push(err.reasonCode) });
      const seen: Event[] = [];
      for await (const event of run) {
        seen.push(event);
        if (seen.length === 20) {
          await controller.kill("SIGKILL");
          controller = await startControllerProcess({ ...env, ASM_LISTEN: `127.0.0.1:${controller.port}` }, root);
        }
      }
      expect(reattaches.length).toBeGreaterThanOrEqual(1);
      const sequences = seen.map((e) => Number(e.sequence));
      expect(sequences).toEqual(sequences.map((_, i) => i + 1));
      expect(seen.at(-1)!.payload?.$case).toBe("result");
      expect(seen.flatMap((e) => (e.payload?.$case === "assistantMessage" ? [e.payload.value.text] : []))).toEqual(Array.from({ length: 80 }, (_, i) => `w${i}`));
      // What the restarted controller has is what the consumer saw.
      const direct = await collectEvents(controller.client.watchRun({ runId: run.runId, afterSequence: 0, maxBatchEvents: 0 }));
      expect(seen.map((e) => [e.id, Number(e.sequence)])).toEqual(direct.map((e) => [e.id, Number(e.sequence)]));
    } finally {
      client.close();
      await controller.kill("SIGTERM");
      await executor.stop();
    }
  });
});
