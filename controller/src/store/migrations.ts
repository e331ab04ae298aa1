import type Database from "better-sqlite3";
import { AsmError } from "@asm/shared";

/** One schema step. Steps are applied in order, each once, at start, in one transaction each. */
export interface Migration {
  version: number;
  sql: string;
}

/**
 * The SQLite schema, by version. Never edit a released step: add the next one. Records are JSON
 * (the store's own shapes, see store.ts); results are the protobuf `Result`; events are their
 * encoded bodies (event-wire.ts), exactly what StreamRun sends.
 */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE sessions (session_id TEXT PRIMARY KEY, ordinal INTEGER NOT NULL, record TEXT NOT NULL);
      CREATE TABLE runs (run_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, record TEXT NOT NULL, result BLOB);
      CREATE TABLE events (
        run_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        source_sequence INTEGER NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (run_id, sequence)
      ) WITHOUT ROWID;
    `,
  },
];

/** Brings the database to the newest version; refuses one written by a newer asm. */
export function applyMigrations(db: Database.Database, migrations: readonly Migration[]): number {
  db.exec("CREATE TABLE IF NOT EXISTS asm_schema (version INTEGER NOT NULL)");
  const row = db.prepare("SELECT MAX(version) AS v FROM asm_schema").get() as { v: number | null };
  const current = row.v ?? 0;
  const newest = migrations.at(-1)?.version ?? 0;
  if (current > newest) throw newerSchemaError(current, newest);
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare("INSERT INTO asm_schema (version) VALUES (?)").run(m.version);
    })();
  }
  return newest;
}

/** A store whose schema is newer than this asm's: refused, never rewritten. */
export function newerSchemaError(current: number, newest: number): AsmError {
  return new AsmError({
    reasonCode: "store_unavailable",
    message: `the store's schema is version ${current}, newer than this asm knows (${newest}): it was written by a newer asm`,
    details: { schema_version: current, known_version: newest },
  });
}
