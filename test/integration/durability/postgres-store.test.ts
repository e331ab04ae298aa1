import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsmError, silentLogger } from "@asm/shared";
import pg from "pg";
import { SessionClaims } from "../../../controller/src/cluster/session-claims.js";
import { PostgresStore, EVENTS_CHANNEL } from "../../../controller/src/store/postgres-store.js";
import { startPostgres, type TestPostgres } from "../../helpers/postgres.js";

/** The PostgreSQL store against a real server the test starts (no mock, no in-process fake). */
describe("the PostgreSQL store", () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("keeps what it committed across a reopen, in one transaction per turn, ringing the doorbell with run id and sequence only", async () => {
    const url = server.createDatabase("store_basic");
    const listener = new pg.Client({ connectionString: url });
    await listener.connect();
    const rung: string[] = [];
    let bothRung!: () => void;
    const both = new Promise<void>((resolve) => (bothRung = resolve));
    listener.on("notification", (n) => {
      rung.push(n.payload ?? "");
      if (rung.length === 2) bothRung();
    });
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
    const store = await PostgresStore.open(url, silentLogger(), "solo");
    for (let s = 1; s <= 300; s++) store.appendEvent("run-a", { sequence: s, body: new Uint8Array(1000).fill(s & 255), sourceSequence: s + 7 });
    store.appendEvent("run-b", { sequence: 1, body: new Uint8Array([9]), sourceSequence: 0 });
    await store.flush();
    await store.close();
    const again = await PostgresStore.open(url, silentLogger(), "solo");
    const events = await again.readEvents("run-a", 0, 1000);
    expect(events.map((e) => e.sequence)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect([...events[41]!.body.subarray(0, 3)]).toEqual([42, 42, 42]);
    expect(await again.lastSourceSequence("run-a")).toBe(307);
    await again.close();
    // One commit: one doorbell per run, with the highest sequence, never the payload.
    await both;
    expect(rung.sort()).toEqual(["run-a:300", "run-b:1"]);
    await listener.end();
  });

  it("several controllers register side by side; a new start of the same id fences the old one's writes; a bad URL is store_unavailable", async () => {
    const url = server.createDatabase("store_fence");
    const a = await PostgresStore.open(url, silentLogger(), "ctl-a");
    const b = await PostgresStore.open(url, silentLogger(), "ctl-b");
    expect([a.member.incarnation, b.member.incarnation]).toEqual([1, 1]);
    const session = (id: string) => ({ sessionId: id, owner: "p", provider: "claude" as const, options: { defaults: {} }, maxConcurrentRuns: 1, maxQueuedRuns: 1, ordinal: 1, state: "open" as const, createdAt: 0, closedAt: undefined, providerSessionId: "", runCount: 0, continuations: {} });
    a.putSession(session("ses-a"));
    b.putSession(session("ses-b"));
    await Promise.all([a.flush(), b.flush()]);
    // Each one loads what it leases.
    expect((await a.load()).sessions.map((s) => s.sessionId)).toEqual(["ses-a"]);
    expect((await b.load()).sessions.map((s) => s.sessionId)).toEqual(["ses-b"]);

    // ctl-a starts again (a restart): the new start has its sessions at once, the old one is fenced.
    const fatal: AsmError[] = [];
    a.onFatal((err) => fatal.push(err));
    const a2 = await PostgresStore.open(url, silentLogger(), "ctl-a");
    expect(a2.member.incarnation).toBe(2);
    expect((await a2.load()).sessions.map((s) => s.sessionId)).toEqual(["ses-a"]);
    // A turn with records (its own transaction) is refused: nothing of it is written.
    a.putSession(session("ses-late"));
    a.appendEvent("run-x", { sequence: 1, body: new Uint8Array([1]), sourceSequence: 0 });
    await expect(a.flush()).rejects.toMatchObject({ reasonCode: "controller_fenced" });
    expect(fatal.map((e) => e.reasonCode)).toEqual(["controller_fenced"]);
    expect(await a2.readEvents("run-x", 0, 10)).toEqual([]);
    expect((await a2.loadSessions(["ses-late"])).sessions).toEqual([]);
    // A turn of events only (one statement) is refused too.
    const a3 = await PostgresStore.open(url, silentLogger(), "ctl-a");
    a2.onFatal((err) => fatal.push(err));
    a2.appendEvent("run-y", { sequence: 1, body: new Uint8Array([2]), sourceSequence: 0 });
    await expect(a2.flush()).rejects.toMatchObject({ reasonCode: "controller_fenced" });
    expect(fatal.map((e) => e.reasonCode)).toEqual(["controller_fenced", "controller_fenced"]);
    expect(await a3.readEvents("run-y", 0, 10)).toEqual([]);
    // The live one writes.
    a3.appendEvent("run-y", { sequence: 1, body: new Uint8Array([3]), sourceSequence: 0 });
    await a3.flush();
    expect((await a3.readEvents("run-y", 0, 10)).map((e) => [...e.body])).toEqual([[3]]);
    await a3.close();
    await Promise.all([a.close(), a2.close(), b.close()]);

    const bad = await PostgresStore.open(`postgres://asm:secret@127.0.0.1:${server.port}/no_such_db`, silentLogger(), "solo").catch((err: unknown) => err);
    expect((bad as AsmError).reasonCode).toBe("store_unavailable");
    expect((bad as AsmError).message).not.toContain("secret");
  });

  it("a write the database refuses for good (a duplicate event, a defect) is dropped alone: the writes around it are kept and later commits go on", async () => {
    const store = await PostgresStore.open(server.createDatabase("store_refused"), silentLogger(), "solo");
    store.appendEvent("r1", { sequence: 1, body: new Uint8Array([1]), sourceSequence: 0 });
    await store.flush();
    store.appendEvent("r1", { sequence: 2, body: new Uint8Array([2]), sourceSequence: 0 });
    store.appendEvent("r1", { sequence: 1, body: new Uint8Array([99]), sourceSequence: 0 });
    store.appendEvent("r1", { sequence: 3, body: new Uint8Array([3]), sourceSequence: 0 });
    await store.flush();
    store.appendEvent("r1", { sequence: 4, body: new Uint8Array([4]), sourceSequence: 0 });
    await store.flush();
    expect((await store.readEvents("r1", 0, 10)).map((e) => [e.sequence, [...e.body]])).toEqual([[1, [1]], [2, [2]], [3, [3]], [4, [4]]]);
    await store.close();
  });

  it("an id claimed by a controller that crashed before making it is not lost: its restart, or anyone once it is not live, claims it again", async () => {
    const url = server.createDatabase("store_claims");
    const one = await PostgresStore.open(url, silentLogger(), "ctl-1");
    const two = await PostgresStore.open(url, silentLogger(), "ctl-2");
    const claims1 = new SessionClaims(one.database.pool, "ctl-1");
    const claims2 = new SessionClaims(two.database.pool, "ctl-2");
    // ctl-1 claims and "crashes" before its session or run is committed.
    expect(await claims1.claim("ses-x")).toBe(true);
    expect(await claims1.claimRun("run-x", "ses-x")).toBe(true);
    // While ctl-1 is live, the ids are its own: ctl-2 is refused, ctl-1 (restarted, the caller retrying) gets them again.
    expect(await claims2.claim("ses-x")).toBe(false);
    expect(await claims2.claimRun("run-x", "ses-y")).toBe(false);
    expect(await claims1.claim("ses-x")).toBe(true);
    expect(await claims1.claimRun("run-x", "ses-x")).toBe(true);
    // Once ctl-1 is not live, ctl-2 may take them.
    await two.database.pool.query("UPDATE controllers SET state = 'dead' WHERE controller_id = 'ctl-1'");
    expect(await claims2.claim("ses-x")).toBe(true);
    expect(await claims2.claimRun("run-x", "ses-y")).toBe(true);
    // An id whose session or run exists is never claimed again, by anyone.
    two.putSession({ sessionId: "ses-made", owner: "alice", provider: "claude", options: { defaults: {} }, maxConcurrentRuns: 1, maxQueuedRuns: 1, ordinal: 1, state: "open", createdAt: 1, closedAt: undefined, providerSessionId: "", runCount: 0, continuations: {} });
    await two.flush();
    expect(await claims2.claim("ses-made")).toBe(false);
    await one.close().catch(() => undefined);
    await two.close();
  });
});
