import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsmError, silentLogger } from "@asm/shared";
import pg from "pg";
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
    const store = await PostgresStore.open(url, silentLogger());
    for (let s = 1; s <= 300; s++) store.appendEvent("run-a", { sequence: s, body: new Uint8Array(1000).fill(s & 255), sourceSequence: s + 7 });
    store.appendEvent("run-b", { sequence: 1, body: new Uint8Array([9]), sourceSequence: 0 });
    await store.flush();
    await store.close();
    const again = await PostgresStore.open(url, silentLogger());
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

  it("a second controller on the same database is refused while the first drives it; a bad URL is store_unavailable", async () => {
    const url = server.createDatabase("store_lock");
    const first = await PostgresStore.open(url, silentLogger());
    const refused = await PostgresStore.open(url, silentLogger()).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AsmError);
    expect((refused as AsmError).reasonCode).toBe("store_unavailable");
    expect((refused as AsmError).message).toContain("another controller drives this database");
    await first.close();
    await (await PostgresStore.open(url, silentLogger())).close();
    const bad = await PostgresStore.open(`postgres://asm:secret@127.0.0.1:${server.port}/no_such_db`, silentLogger()).catch((err: unknown) => err);
    expect((bad as AsmError).reasonCode).toBe("store_unavailable");
    expect((bad as AsmError).message).not.toContain("secret");
  });
});
