import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testRunMarker } from "./test-run.js";

/**
 * A throwaway PostgreSQL server for a test: Debian's `postgresql` binaries (`.ci/run` installs the
 * package), a fresh cluster in a temporary directory, listening on a free loopback port. As root,
 * the server runs as the `postgres` user (PostgreSQL refuses root).
 */
export interface TestPostgres {
  /** postgres://asm@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  proc: ChildProcess;
  /** A fresh database on this server, and its URL. */
  createDatabase(name: string): string;
  stop(): Promise<void>;
}

function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "postgres"))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error("PostgreSQL is not installed (Debian package postgresql; .ci/run installs it)");
  return join(root, versions[0]!, "bin");
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), "asm-pg-"));
  // As root the cluster belongs to `postgres`; otherwise to whoever runs the tests.
  const user = process.getuid?.() === 0 ? { uid: Number(execFileSync("id", ["-u", "postgres"]).toString().trim()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString().trim()) } : {};
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = join(dir, "data");
  const env = { ...testRunMarker(), PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LANG: "C.UTF-8" };
  execFileSync(join(bin, "initdb"), ["-D", data, "-U", "asm", "-A", "trust", "--no-sync", "-E", "UTF8"], { stdio: ["ignore", "ignore", "pipe"], cwd: dir, env, ...user });
  const port = await freePort();
  const args = ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"];
  const proc = spawn(join(bin, "postgres"), args, { stdio: ["ignore", "pipe", "pipe"], cwd: dir, env, ...user });
  let output = "";
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      if (output.includes("database system is ready to accept connections")) resolve();
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    proc.once("exit", (code) => reject(new Error(`postgres exited with ${code}:\n${output}`)));
  });
  const url = `postgres://asm@127.0.0.1:${port}/postgres`;
  const psql = join(bin, "psql");
  return {
    url,
    port,
    proc,
    createDatabase: (name) => {
      execFileSync(psql, ["-h", "127.0.0.1", "-p", String(port), "-U", "asm", "-d", "postgres", "-c", `CREATE DATABASE "${name}"`], { stdio: ["ignore", "ignore", "pipe"] });
      return `postgres://asm@127.0.0.1:${port}/${name}`;
    },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGINT");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
