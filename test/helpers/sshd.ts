import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testRunMarker } from "./test-run.js";

/** A real OpenSSH server on a loopback port, with a generated host key and a test user key. */
export interface TestSshd {
  host: string;
  port: number;
  user: string;
  /** The client's private key (the operator's ASM_SSH_IDENTITY_FILE). */
  identityFile: string;
  /** A known_hosts file that holds this server's host key (the operator's ASM_SSH_KNOWN_HOSTS_FILE). */
  knownHostsFile: string;
  /** Replaces the server's host key with a new one and restarts it on the same port (known_hosts then mismatches). */
  changeHostKey(): Promise<void>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function keygen(file: string): void {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "asm-test", "-f", file], { stdio: "ignore" });
}

/** Starts `/usr/sbin/sshd -D -e` with its own config in a temporary directory; resolves once it listens. */
export async function startSshd(): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), "asm-sshd-"));
  // sshd's privilege-separation directory.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const hostKey = join(dir, "host_key");
  const identityFile = join(dir, "user_key");
  keygen(hostKey);
  keygen(identityFile);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${identityFile}.pub`));
  const port = await freePort();
  const user = "root";
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "PermitUserEnvironment no",
      "UseDNS no",
      "LogLevel INFO",
      "",
    ].join("\n"),
  );
  const knownHostsFile = join(dir, "known_hosts");
  const writeKnownHosts = (): void => {
    const [type, key] = readFileSync(`${hostKey}.pub`, "utf8").trim().split(" ");
    writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${type} ${key}\n`);
  };
  writeKnownHosts();
  let proc: ChildProcess = await launch(dir, port);
  return {
    host: "127.0.0.1",
    port,
    user,
    identityFile,
    knownHostsFile,
    changeHostKey: async () => {
      await stopProc(proc);
      rmSync(hostKey, { force: true });
      rmSync(`${hostKey}.pub`, { force: true });
      keygen(hostKey);
      proc = await launch(dir, port);
    },
    stop: async () => {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function launch(dir: string, port: number): Promise<ChildProcess> {
  const proc = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { env: { PATH: "/usr/sbin:/usr/bin:/bin", ...testRunMarker() }, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) resolve();
    });
    proc.once("exit", (code) => reject(new Error(`sshd exited with ${code}: ${log}`)));
  });
  return proc;
}

function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once("exit", () => resolve());
    proc.kill("SIGTERM");
  });
}
