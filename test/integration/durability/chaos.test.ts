import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { AsmClient, Provider, isTerminal, runOptions, type Event } from "@asm/client";
import { startControllerProcess, type ControllerProcess } from "../../helpers/controller-process.js";
import { startExecutorProcess } from "../../helpers/executor-process.js";
import { collectEvents } from "../../helpers/grpc-client.js";
import { createTestPki } from "../../helpers/pki.js";
import { startPostgres } from "../../helpers/postgres.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions } from "../../helpers/remote-setup.js";

/**
 * Issue 15, acceptance 3, on SQLite and on a real PostgreSQL server: 200 runs of 2,000 events each, half of them on an executor,
 * while the controller is SIGKILLed and restarted on its data directory at random moments. Every
 * run has two watchers (the run's own stream and a WatchRun) through @asm/client, which re-attach
 * across the restarts. Across all watchers: no event lost, duplicated or reordered; each equals the
 * run's kept log; remote runs lose nothing at all (they finish with all 2,000 deltas).
 */

const RUNS = 200;
const EVENTS = 2000;
const SESSIONS = 20;
const KILLS = 4;

interface Watched {
  runId: string;
  remote: boolean;
  streams: Event[][];
}

const deltasOf = (events: Event[]): string[] => events.flatMap((e) => (e.payload?.$case === "assistantDelta" ? [e.payload.value.content] : []));

/** Drains `stream` into `into`; `first` resolves at the first event (or the end). */
function collect(stream: AsyncIterable<Event>, into: Event[]): { first: Promise<void>; all: Promise<void> } {
  let firstSeen!: () => void;
  const first = new Promise<void>((resolve) => (firstSeen = resolve));
  const all = (async () => {
    try {
      for await (const event of stream) {
        into.push(event);
        firstSeen();
      }
    } finally {
      firstSeen();
    }
  })();
  return { first, all };
}

describe.each(["sqlite", "postgres"] as const)("chaos on %s: controller kills and restarts under load", (kind) => {
  it(`${RUNS} runs x ${EVENTS} events, ${KILLS} SIGKILLs of the controller: every watcher sees each run's kept log exactly once, in order`, async () => {
    const root = mkdtempSync(join(tmpdir(), "asm-chaos-"));
    const pki = createTestPki(join(root, "pki"));
    const executor = await startExecutorProcess({ pki, args: ["--max-runs", "64"] });
    const postgres = kind === "postgres" ? await startPostgres() : undefined;
    const store: Record<string, string> = postgres ? { ASM_STORE: postgres.createDatabase("chaos") } : { ASM_DATA_DIR: join(root, "data") };
    // Fast heartbeats, but grpc-js keepalive at its usual scale: a keepalive timeout of 1 s measures the
    // loaded test machine (a starved process misses a ping answer), not the controller's kills.
    const liveness = { ...FAST_LIVENESS, ASM_REMOTE_KEEPALIVE_TIME_MS: "10000", ASM_REMOTE_KEEPALIVE_TIMEOUT_MS: "10000" };
    const env: Record<string, string> = { ...remoteIdentityEnv(pki), ...liveness, ASM_EXECUTORS: `executor-a=${executor.address}`, ...store, ASM_LOG_LEVEL: "warn" };
    let controller: ControllerProcess = await startControllerProcess(env, root);
    const port = controller.port;
    env.ASM_LISTEN = `127.0.0.1:${port}`;
    const client = new AsmClient({ address: `127.0.0.1:${port}` });
    const fakeClaude = inject("fakeClaudePath");
    const watched: Watched[] = [];
    let kills = 0;
    const outputs: string[] = [];
    try {
      const sessions: { id: string; remote: boolean }[] = [];
      for (let i = 0; i < SESSIONS; i++) {
        const remote = i % 2 === 1;
        const defaults = remote ? { ...remoteOptions("executor-a"), cliPath: fakeClaude } : runOptions({ cliPath: fakeClaude, cwd: root });
        sessions.push({ id: (await client.createSession(Provider.PROVIDER_CLAUDE, { defaults, maxQueuedRuns: RUNS })).sessionId, remote });
      }
      let done = false;
      const chaos = (async () => {
        while (kills < KILLS && !done) {
          await new Promise((resolve) => setTimeout(resolve, 800 + Math.floor(Math.random() * 1200)));
          if (done) break;
          await controller.kill("SIGKILL");
          outputs.push(controller.output());
          kills += 1;
          controller = await startControllerProcess(env, root);
        }
      })();
      const perSession = RUNS / SESSIONS;
      await Promise.all(
        sessions.map(async (session, s) => {
          for (let k = 0; k < perSession; k++) {
            const runId = `chaos-${s}-${k}`;
            const w: Watched = { runId, remote: session.remote, streams: [[], []] };
            watched.push(w);
            const run = client.run(session.id, `[[scenario:firehose]] [[n:${EVENTS}]] [[rate:5000]]`, { runId, maxBatchEvents: 32 });
            const own = collect(run, w.streams[0]!);
            // The second watcher joins once the run exists (its first event was delivered).
            await own.first;
            const other = collect(client.watch(runId, 0, { maxBatchEvents: 0 }), w.streams[1]!);
            await Promise.all([own.all, other.all]);
          }
        }),
      );
      done = true;
      await chaos;
      expect(kills).toBeGreaterThanOrEqual(1);

      let remoteComplete = 0;
      let localCut = 0;
      for (const w of watched) {
        const kept = await collectEvents(controller.client.watchRun({ runId: w.runId, afterSequence: 0, maxBatchEvents: 0 }));
        expect(isTerminal(kept.at(-1)!), w.runId).toBe(true);
        expect(kept.map((e) => e.sequence), w.runId).toEqual(kept.map((_, i) => i + 1));
        for (const seen of w.streams) expect(seen.map((e) => [e.id, e.sequence]), w.runId).toEqual(kept.map((e) => [e.id, e.sequence]));
        const deltas = deltasOf(kept);
        // Whatever the CLI produced arrived in its order, none twice.
        expect(deltas, w.runId).toEqual(deltas.map((_, i) => `t${i} `));
        const error = kept.at(-1)!.payload?.$case === "error" ? kept.at(-1)!.payload : undefined;
        if (w.remote) {
          expect(error?.$case === "error" ? `${error.value.error?.reasonCode}: ${error.value.error?.message}` : undefined, w.runId).toBeUndefined();
          expect(deltas.length, w.runId).toBe(EVENTS);
          remoteComplete += 1;
        } else if (error) {
          expect(error.$case === "error" && error.value.error?.reasonCode, w.runId).toBe("controller_restarted");
          localCut += 1;
        } else expect(deltas.length, w.runId).toBe(EVENTS);
      }
      expect(remoteComplete).toBe(RUNS / 2);
      // The report of what the kills hit (local runs cut by a kill end with controller_restarted).
      console.info(`chaos (${kind}): ${kills} kills; ${remoteComplete} remote runs complete; ${localCut} local runs cut by a kill`);
    } finally {
      if (process.env.ASM_CHAOS_LOG) writeFileSync(`${process.env.ASM_CHAOS_LOG}.${kind}`, executor.output() + "\n=====CONTROLLERS\n" + [...outputs, controller.output()].join("\n=====\n"));
      client.close();
      await controller.kill("SIGTERM");
      await executor.stop();
      await postgres?.stop();
    }
  }, 240_000);
});
