import { spawnSync } from "node:child_process";
import { mkdtempSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AsmError, parsePolicy, parseSurface, RunPolicy, sshExecSurface, surfaceDriver, type CliExit, type RunSettings } from "@asm/shared";

const command = { command: "/opt/claude", args: ["--print", "it's"], cwd: "/srv/work dir", env: { PATH: "/usr/bin", HOME: "/home/u", SECRET: "s3cr'et\nline" }, initialInput: [], keepStdinOpen: true };
const operator = { ssh: { identityFile: "/keys/id", knownHostsFile: "/keys/known_hosts", user: "ops", connectTimeoutS: 7, aliveIntervalS: 2, aliveCountMax: 4 } };

function exit(partial: Partial<CliExit>): CliExit {
  return { code: 255, signal: null, classification: "exit_nonzero", killedByUs: false, stderrTail: "", ...partial };
}

describe("execution surfaces", () => {
  it("parse: unset kind is local_subprocess; an unknown kind or option is config_invalid naming it", () => {
    expect(parseSurface(undefined, "x")).toBeUndefined();
    expect(parseSurface({ kind: "", options: {} }, "x")).toEqual({ kind: "local_subprocess", options: {} });
    expect(parseSurface({ kind: "ssh_exec", options: { host: "build-1.example" } }, "x")).toEqual({ kind: "ssh_exec", options: { host: "build-1.example", port: 22 } });
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as AsmError;
      }
      throw new Error("no error");
    };
    expect(err(() => parseSurface({ kind: "vm", options: {} }, "options.defaults.execution_surface"))).toMatchObject({ kind: "config_invalid", field: "options.defaults.execution_surface.kind" });
    expect(err(() => parseSurface({ kind: "ssh_exec", options: { host: "h", password: "x" } }, "s")).field).toContain("s.options");
    expect(err(() => parseSurface({ kind: "ssh_exec", options: { host: "-oProxyCommand=evil" } }, "s")).field).toBe("s.options.host");
    expect(err(() => parseSurface({ kind: "ssh_exec", options: { host: "h", user: "root;rm" } }, "s")).field).toBe("s.options.user");
    expect(err(() => parseSurface({ kind: "local_subprocess", options: { host: "h" } }, "s")).kind).toBe("config_invalid");
  });

  it("ssh_exec places the CLI behind the OpenSSH client: strict host keys, the operator's identity, no user config, bounds", () => {
    const placed = sshExecSurface.place({ command, cli: "/opt/claude", operator }, { host: "build-1", port: 2222 });
    expect(placed.command).toBe("ssh");
    const args = placed.args.join(" ");
    for (const part of ["-T", "-F none", "BatchMode=yes", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/keys/known_hosts", "-i /keys/id", "ConnectTimeout=7", "ServerAliveInterval=2", "ServerAliveCountMax=4", "-p 2222", "-l ops"]) expect(args).toContain(part);
    expect(placed.args.at(-2)).toBe("build-1");
    expect(sshExecSurface.target({ host: "build-1", port: 2222 }, operator)).toBe("ops@build-1:2222");
    expect(sshExecSurface.target({ host: "build-1", port: 22, user: "ci" }, operator)).toBe("ci@build-1:22");
  });

  it("ssh_exec sends the environment on stdin (never on a command line), minus PATH, and quotes every word of the remote command", () => {
    const placed = sshExecSurface.place({ command, cli: "/opt/claude", operator }, { host: "h", port: 22 });
    const remote = placed.args.at(-1)!;
    expect(remote).not.toContain("s3cr");
    expect(placed.preamble.at(-1)).toBe("");
    const env = Object.fromEntries(placed.preamble.slice(0, -1).map((l) => l.split(" ")).map(([k, v]) => [k, Buffer.from(v!, "base64").toString("utf8")]));
    expect(env).toEqual({ HOME: "/home/u", SECRET: "s3cr'et\nline" });
    // What the remote login shell would run, run here by sh: the wrapper receives the words intact.
    const argv = spawnSync("/bin/sh", ["-c", remote.replace(/^exec \/bin\/sh -c '(?:[^']|'\\'')*'/, "printf '%s\\n'")], { encoding: "utf8" }).stdout.split("\n");
    expect(argv.slice(0, 5)).toEqual(["asm-ssh", "/srv/work dir", "/opt/claude", "--print", "it's"]);
  });

  it("the wrapper runs in a real sh: environment from stdin, cwd, CLI check, the CLI in its own session", () => {
    const placed = sshExecSurface.place({ command: { ...command, cwd: realpathSync(tmpdir()), args: ["-c", 'echo "$SECRET|$(pwd -P)|$$|$(cut -d" " -f6 /proc/$$/stat)"'] }, cli: "/bin/sh", operator }, { host: "h", port: 22 });
    const remote = placed.args.at(-1)!;
    const input = placed.preamble.join("\n") + "\n";
    const out = spawnSync("/bin/sh", ["-c", remote], { input, encoding: "utf8" });
    expect(out.status).toBe(0);
    const [secret, cwd, pid, session] = out.stdout.trim().split("|");
    expect(secret).toBe("s3cr'et\nline");
    expect(cwd).toBe(realpathSync(tmpdir()));
    expect(session).toBe(pid);
    expect(out.stderr).toMatch(/^asm-ssh: started \d+$/m);
    const missing = spawnSync("/bin/sh", ["-c", sshExecSurface.place({ command, cli: "/nonexistent/claude", operator }, { host: "h", port: 22 }).args.at(-1)!.replace("/srv/work dir", realpathSync(tmpdir()))], { input, encoding: "utf8" });
    expect({ code: missing.status, err: missing.stderr }).toMatchObject({ code: 127, err: expect.stringContaining("asm-ssh: CLI not found") });
    const noDir = spawnSync("/bin/sh", ["-c", sshExecSurface.place({ command: { ...command, cwd: join(mkdtempSync(join(tmpdir(), "asm-")), "gone") }, cli: "/bin/sh", operator }, { host: "h", port: 22 }).args.at(-1)!], { input, encoding: "utf8" });
    expect(noDir.status).toBe(86);
  });

  it("ssh_exec's own failures, from the client's exit and words", () => {
    const ctx = { provider: "claude", cli: "claude", cwd: "/w", target: "root@h:22" };
    const reason = (e: Partial<CliExit>) => sshExecSurface.classifyExit(exit(e), ctx)?.reasonCode;
    expect(reason({ stderrTail: "ssh: connect to host h port 22: Connection refused\r\n" })).toBe("ssh_host_unreachable");
    expect(reason({ stderrTail: "ssh: Could not resolve hostname h: Name or service not known\r\n" })).toBe("ssh_host_unreachable");
    expect(reason({ stderrTail: "root@h: Permission denied (publickey).\r\n" })).toBe("ssh_auth_refused");
    expect(reason({ stderrTail: "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.\r\n" })).toBe("ssh_host_key_mismatch");
    expect(reason({ stderrTail: "No ED25519 host key is known for [h]:22 and you have requested strict checking.\r\nHost key verification failed.\r\n" })).toBe("ssh_host_key_unknown");
    expect(reason({ stderrTail: "asm-ssh: started 42\nTimeout, server h not responding.\r\n" })).toBe("ssh_connection_lost");
    expect(reason({ stderrTail: "asm-ssh: started 42\n" })).toBe("ssh_connection_lost");
    expect(reason({ code: 127, stderrTail: "asm-ssh: CLI not found on this host: claude\n" })).toBe("ssh_cli_missing");
    expect(reason({ code: 86, stderrTail: "asm-ssh: no directory /w on this host\n" })).toBe("cwd_not_found");
    expect(reason({ code: null, signal: "SIGKILL" })).toBe("ssh_connection_lost");
    // asm's own stop (interrupt, timeout) is the run's error, not a surface failure; the CLI's own exit is its own.
    expect(reason({ code: null, signal: "SIGTERM", killedByUs: true })).toBeUndefined();
    expect(reason({ code: 1, stderrTail: "asm-ssh: started 42\n" })).toBeUndefined();
  });

  it("local_subprocess is the default and places the command through the cwd guard when confined", () => {
    expect(surfaceDriver(undefined).kind).toBe("local_subprocess");
    const placed = surfaceDriver(undefined).place({ command, cli: "/opt/claude", confinedTo: () => "/srv", operator: {} }, {});
    expect(placed).toMatchObject({ command: "/bin/sh", cwd: "/srv", preamble: [] });
    expect(placed.args).toContain("/srv/work dir");
  });
});

describe("the policy's ssh_targets", () => {
  const settings = (surface: RunSettings["executionSurface"]): RunSettings =>
    ({ lane: "auto", executionMode: "local", permissionMode: "default", env: {}, providerOptions: {}, driverOpts: {}, cwd: undefined, executionSurface: surface }) as unknown as RunSettings;
  const principal = { id: "alice", roles: ["user"], source: "token" as const };
  const policy = new RunPolicy(parsePolicy({ ssh_targets: ["build-1", "ci@build-2:2222"] }), {});
  const check = (options: Record<string, unknown>) => policy.checkRun(principal, settings({ kind: "ssh_exec", options }), { provider: "claude", prefix: "overrides", side: "controller" });

  it("admits a listed target (any user when the entry names none, port 22 when it names none)", () => {
    expect(() => check({ host: "build-1" })).not.toThrow();
    expect(() => check({ host: "build-1", user: "anyone" })).not.toThrow();
    expect(() => check({ host: "build-2", port: 2222, user: "ci" })).not.toThrow();
  });

  it("refuses anything else, naming the field and the rule; no ssh_exec at all by default", () => {
    for (const options of [{ host: "build-1", port: 2200 }, { host: "build-2", port: 2222, user: "root" }, { host: "build-2", port: 2222 }, { host: "build-3" }]) {
      expect(() => check(options)).toThrow(expect.objectContaining({ reasonCode: "policy_denied", field: "overrides.execution_surface.options.host", details: expect.objectContaining({ rule: "ssh_targets" }) }));
    }
    const none = RunPolicy.defaults({});
    expect(() => none.checkRun(principal, settings({ kind: "ssh_exec", options: { host: "build-1" } }), { provider: "claude", prefix: "o", side: "executor" })).toThrow(expect.objectContaining({ reasonCode: "policy_denied" }));
  });

  it("a cwd on the SSH host is not resolved on this one", () => {
    const local = new RunPolicy(parsePolicy({ workspace_root: realpathSync(tmpdir()), ssh_targets: ["build-1"] }), {});
    const out = local.checkRun(principal, { ...settings({ kind: "ssh_exec", options: { host: "build-1", port: 22 } }), cwd: "/only/on/the/ssh/host" }, { provider: "claude", prefix: "o", side: "controller" });
    expect(out.cwd).toBe("/only/on/the/ssh/host");
  });
});
