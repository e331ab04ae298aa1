import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, type ClientDuplexStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AsmError, ExecutorServiceClient, Provider, type Event, type ExecuteRequest, type ExecuteResponse, type RunExit, type RunSpawned } from "@asm/shared";
import { startExecutorProcess, type ExecutorProcess } from "../../helpers/executor-process.js";
import { createTestPki, type TestPki } from "../../helpers/pki.js";
import { runOptions } from "../../helpers/sessions.js";
import { isAlive } from "../../helpers/test-controller.js";

/**
 * The executor's side of re-attach (executor.proto, "Re-attach"), driven on the wire by a test
 * client acting as a controller that dies and comes back: nothing acknowledged is resent, nothing
 * unacknowledged is lost, a finished run waits for its acknowledgement, and only the identity that
 * started a run may attach to it.
 */

type Call = ClientDuplexStream<ExecuteRequest, ExecuteResponse>;

/** One Execute stream as a controller sees it: events (by executor sequence), `started`, `exit`. */
class Stream {
  readonly events: Event[] = [];
  started: RunSpawned | undefined;
  exit: RunExit | undefined;
  private waiters: (() => void)[] = [];
  readonly ended: Promise<void>;

  constructor(readonly call: Call) {
    call.on("data", (m: ExecuteResponse) => {
      const r = m.reply;
      if (r?.$case === "events") this.events.push(...r.value.events);
      else if (r?.$case === "started") this.started = r.value;
      else if (r?.$case === "exit") this.exit = r.value;
      for (const w of this.waiters.splice(0)) w();
    });
    this.ended = new Promise((resolve) => {
      call.on("error", () => resolve());
      call.on("end", () => resolve());
    });
  }

  /** Resolves once `check` holds (re-checked at every message). */
  async until(check: () => boolean): Promise<void> {
    while (!check()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  ack(sequence: number): void {
    this.call.write({ command: { $case: "heartbeat", value: { ackedSequence: sequence } } });
  }
}

describe("executor re-attach on the wire", () => {
  let pki: TestPki;
  let executor: ExecutorProcess;
  let n = 0;

  beforeAll(async () => {
    pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
    executor = await startExecutorProcess({ pki, env: { ASM_CLAUDE_CLI_PATH: inject("fakeClaudePath") }, args: ["--heartbeat-timeout-ms", "60000"], allowClients: ["controller", "client"] });
  });
  afterAll(async () => {
    await executor?.stop();
  });

  const client = (identity = pki.controllerClient): ExecutorServiceClient =>
    new ExecutorServiceClient(executor.address, credentials.createSsl(readFileSync(pki.ca.cert), readFileSync(identity.key), readFileSync(identity.cert)), {
      "grpc.ssl_target_name_override": "executor-a",
      "grpc.default_authority": "executor-a",
    });

  function start(c: ExecutorServiceClient, runId: string, prompt: string): Stream {
    const s = new Stream(c.execute(new Metadata()));
    s.call.write({ command: { $case: "start", value: { runId, sessionId: runId, provider: Provider.PROVIDER_CLAUDE, prompt, options: runOptions({}), resumeProviderSessionId: "", remoteCwd: "", leaseTimeoutMs: 30_000, cookie: "", extra: undefined } } });
    return s;
  }

  function attach(c: ExecutorServiceClient, runId: string, afterSequence: number): Stream {
    const s = new Stream(c.execute(new Metadata()));
    s.call.write({ command: { $case: "attach", value: { runId, afterSequence, cookie: "" } } });
    return s;
  }

  const words = (events: Event[]): string[] => events.flatMap((e) => (e.payload?.$case === "assistantMessage" ? [e.payload.value.text] : []));

  it("a controller that dies is resent exactly what it did not acknowledge, from the same CLI; a finished run waits for its acknowledgement", async () => {
    const runId = `reattach-${++n}`;
    const c1 = client();
    const first = start(c1, runId, "[[scenario:slow]] [[n:30]] [[ms:60]]");
    await first.until(() => first.events.length >= 8);
    const pid = first.started!.pid;
    // The controller kept (and acknowledges) 5 events, then dies.
    first.ack(5);
    await first.until(() => first.events.length >= 9);
    c1.close();
    first.call.cancel();

    // Back: it asks for everything after what it kept; the CLI is the same and still running.
    const c2 = client();
    const second = attach(c2, runId, 5);
    await second.until(() => second.started !== undefined && second.events.length > 0);
    expect(second.started).toMatchObject({ pid, reattached: true });
    expect(isAlive(pid)).toBe(true);
    expect(second.events[0]!.sequence).toBe(6);
    // It dies again before the run ends, having acknowledged nothing more.
    await second.until(() => second.events.length >= 6);
    c2.close();
    second.call.cancel();

    // The run ends while no controller is attached; a third one gets the rest and the exit.
    const c3 = client();
    const third = attach(c3, runId, 5);
    await third.until(() => third.exit !== undefined);
    const all = [...first.events.slice(0, 5), ...third.events];
    expect(all.map((e) => e.sequence)).toEqual(all.map((_, i) => i + 1));
    expect(words(all)).toEqual(Array.from({ length: 30 }, (_, i) => `w${i}`));
    expect(third.exit!.exitCode).toBe(0);
    // It half-closes without acknowledging the end: the executor keeps the run for its lease.
    third.call.end();
    await third.ended;
    c3.close();
    const c4 = client();
    const fourth = attach(c4, runId, 20);
    await fourth.until(() => fourth.exit !== undefined);
    expect(fourth.events[0]!.sequence).toBe(21);
    expect(fourth.events.at(-1)!.sequence).toBe(all.at(-1)!.sequence);
    // Acknowledged in full, then half-closed: the run is forgotten.
    fourth.ack(all.at(-1)!.sequence);
    fourth.call.end();
    await fourth.ended;
    const gone = attach(c4, runId, 0);
    await gone.until(() => gone.exit !== undefined);
    expect(AsmError.fromMessage(gone.exit!.error!).reasonCode).toBe("remote_run_lost");
    c4.close();
  });

  it("a start of a run the executor runs for the same controller is an attach after 0; another identity cannot attach", async () => {
    const runId = `reattach-${++n}`;
    const c1 = client();
    const first = start(c1, runId, "[[scenario:slow]] [[n:20]] [[ms:60]]");
    await first.until(() => first.events.length >= 4);
    const pid = first.started!.pid;
    c1.close();
    first.call.cancel();

    // Another identity the executor admits: the run is not there for it.
    const stranger = client(pki.client);
    const refused = attach(stranger, runId, 0);
    await refused.until(() => refused.exit !== undefined);
    expect(AsmError.fromMessage(refused.exit!.error!).reasonCode).toBe("remote_run_lost");
    stranger.close();

    const c2 = client();
    const again = start(c2, runId, "[[scenario:slow]] [[n:20]] [[ms:60]]");
    await again.until(() => again.exit !== undefined);
    expect(again.started).toMatchObject({ pid, reattached: true });
    expect(again.events.map((e) => e.sequence)).toEqual(again.events.map((_, i) => i + 1));
    expect(words(again.events)).toEqual(Array.from({ length: 20 }, (_, i) => `w${i}`));
    again.ack(again.events.at(-1)!.sequence);
    again.call.end();
    await again.ended;
    c2.close();
  });
});
