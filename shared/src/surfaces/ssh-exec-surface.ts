/**
 * `ssh_exec`: the CLI runs on another host, started over SSH by the OpenSSH client; its stdin,
 * stdout and stderr are the SSH session's, so the adapter and the supervisor drive it as a local
 * child (line framing, approvals, protocol interrupts). On that host a small POSIX `sh` wrapper
 * reads the CLI's environment from the first stdin lines (never on a command line, visible in
 * `ps`), enters the cwd, checks that the CLI exists, starts it as the leader of its own session
 * (`setsid`), and watches the SSH session: when the session is gone (the run interrupted or timed
 * out, which stops the local client; or the connection lost) it kills the CLI's process group.
 */
import { z } from "zod";
import { AsmError } from "../errors/asm-error.js";
import type { CliExit } from "../process/cli-process.js";
import type { ExecutionSurfaceDriver, PlaceRequest, PlacedCommand, SurfaceOperatorConfig } from "./execution-surface.js";

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\d{1,3}(?:\.\d{1,3}){3}$|^\[[0-9A-Fa-f:.]+\]$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/i;

export const SshExecOptionsSchema = z.strictObject({
  host: z.string().max(253).regex(HOST, "must be a host name or an IP address"),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(USER, "must be a user name").optional(),
});
export type SshExecOptions = z.infer<typeof SshExecOptionsSchema>;

/** Exit code of the wrapper when the cwd does not exist on the host. */
export const SSH_NO_CWD = 86;
/** Exit code of the wrapper when the CLI is not found on the host. */
export const SSH_NO_CLI = 127;
/** How often the wrapper checks that its SSH session is still there. */
const WATCH_S = "0.2";

/**
 * The watch (`sh -c WATCH asm-ssh-watch SESSION CLI`): waits while both the SSH session and the CLI
 * live; then kills the CLI's process group and its descendants (listed with `ps` and `awk` before
 * anything is killed; a host without `ps` gets the group kill only). No single quote in it: it is
 * itself single-quoted inside the wrapper.
 */
const WATCH = [
  `while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep ${WATCH_S}; done`,
  `t=$(ps -e -o pid= -o ppid= 2>/dev/null | awk -v r="$2" "{p[\\$1]=\\$2} END {s[r]=1; do {c=0; for (k in p) if (!(k in s) && (p[k] in s)) {s[k]=1; c=1}} while (c); for (k in s) if (k != r) print k}")`,
  `kill -s KILL -- "-$2" 2>/dev/null`,
  `[ -n "$t" ] && kill -s KILL $t 2>/dev/null`,
  `exit 0`,
].join("; ");

/** The wrapper, run as `sh -c WRAPPER asm-ssh CWD CLI ARGS...`. */
const WRAPPER = [
  // The environment: "NAME BASE64" lines, ended by an empty line; the rest of stdin is the CLI's.
  `while IFS=' ' read -r asm_k asm_v; do [ -z "$asm_k" ] && break; asm_val=$(printf '%s' "$asm_v" | base64 -d) || exit 125; export "$asm_k=$asm_val"; done`,
  `asm_cwd=$1; asm_cli=$2; shift 2`,
  `cd -P -- "$asm_cwd" 2>/dev/null || { printf 'asm-ssh: no directory %s on this host\\n' "$asm_cwd" >&2; exit ${SSH_NO_CWD}; }`,
  `command -v -- "$asm_cli" >/dev/null 2>&1 || { printf 'asm-ssh: CLI not found on this host: %s\\n' "$asm_cli" >&2; exit ${SSH_NO_CLI}; }`,
  `asm_session=$PPID`,
  // A background job's stdin would be /dev/null: hand it the session's through fd 3.
  `exec 3<&0`,
  `setsid "$asm_cli" "$@" <&3 3<&- &`,
  `asm_pid=$!`,
  `exec 3<&-`,
  `printf 'asm-ssh: started %s\\n' "$asm_pid" >&2`,
  // The watch, in its own process group: when the SSH session is gone, so is the CLI: its group
  // and every descendant (a tool the CLI put in a session of its own, too), found before the kill.
  `setsid /bin/sh -c '${WATCH}' asm-ssh-watch "$asm_session" "$asm_pid" </dev/null >/dev/null 2>&1 &`,
  `asm_watch=$!`,
  `wait "$asm_pid"; asm_code=$?`,
  // What the CLI left in its group goes with it (as for a local CLI), and the watch ends.
  `kill -s KILL -- "-$asm_pid" 2>/dev/null; kill -s KILL -- "-$asm_watch" 2>/dev/null`,
  `exit $asm_code`,
].join("\n");

/** POSIX single-quoting of one word. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function optionsOf(raw: Record<string, unknown>): SshExecOptions {
  return SshExecOptionsSchema.parse(raw);
}

function userOf(options: SshExecOptions, operator: SurfaceOperatorConfig): string | undefined {
  return options.user ?? operator.ssh?.user;
}

export const sshExecSurface: ExecutionSurfaceDriver = {
  kind: "ssh_exec",
  optionsSchema: SshExecOptionsSchema,
  onBackendHost: false,

  target(raw, operator) {
    const options = optionsOf(raw);
    const user = userOf(options, operator);
    return `${user ? `${user}@` : ""}${options.host}:${options.port}`;
  },

  place(request: PlaceRequest, raw): PlacedCommand {
    const options = optionsOf(raw);
    const ssh = request.operator.ssh;
    const user = userOf(options, request.operator);
    const args = [
      "-T",
      // Nothing from a user's ~/.ssh/config changes what asm asked for.
      "-F", "none",
      "-o", "BatchMode=yes",
      "-o", "StrictHostKeyChecking=yes",
      "-o", "IdentitiesOnly=yes",
      "-o", `ConnectTimeout=${ssh?.connectTimeoutS ?? 10}`,
      "-o", `ServerAliveInterval=${ssh?.aliveIntervalS ?? 5}`,
      "-o", `ServerAliveCountMax=${ssh?.aliveCountMax ?? 3}`,
      "-o", "LogLevel=ERROR",
      "-p", String(options.port),
    ];
    if (ssh?.knownHostsFile) args.push("-o", `UserKnownHostsFile=${ssh.knownHostsFile}`, "-o", "GlobalKnownHostsFile=/dev/null");
    if (ssh?.identityFile) args.push("-i", ssh.identityFile);
    if (user) args.push("-l", user);
    const { command } = request;
    const remote = ["exec", "/bin/sh", "-c", quote(WRAPPER), "asm-ssh", quote(command.cwd), quote(request.cli), ...command.args.map(quote)].join(" ");
    args.push("--", options.host, remote);
    // The CLI's environment on the host: the run's, minus PATH (the host's own), sent on stdin.
    const preamble = Object.entries(command.env)
      .filter(([k]) => k !== "PATH")
      .map(([k, v]) => `${k} ${Buffer.from(v, "utf8").toString("base64")}`);
    preamble.push("");
    return { command: "ssh", args, cwd: request.confinedTo?.() ?? "/", env: command.env, preamble };
  },

  classifyExit(exit: CliExit, context): AsmError | undefined {
    const tail = exit.stderrTail;
    const started = /asm-ssh: started \d+/.test(tail);
    const base = { provider: context.provider, stderrTail: tail, details: { target: context.target } };
    if (exit.code === SSH_NO_CLI && /asm-ssh: CLI not found/.test(tail)) {
      return new AsmError({ ...base, reasonCode: "ssh_cli_missing", message: `the ${context.provider} CLI ${context.cli} is not on ${context.target}`, details: { target: context.target, cli: context.cli } });
    }
    if (exit.code === SSH_NO_CWD && /asm-ssh: no directory/.test(tail)) {
      return new AsmError({ ...base, reasonCode: "cwd_not_found", field: "cwd", message: `the directory ${context.cwd} does not exist on ${context.target}`, details: { target: context.target, cwd: context.cwd } });
    }
    if (exit.signal !== null && !exit.killedByUs) {
      // The ssh client itself was killed (not by asm): the connection is gone with it.
      return new AsmError({ ...base, reasonCode: "ssh_connection_lost", signal: exit.signal, message: `the SSH client for ${context.target} was killed (${exit.signal}); the connection is gone` });
    }
    if (exit.code !== 255) return undefined;
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(tail)) {
      return new AsmError({ ...base, reasonCode: "ssh_host_key_mismatch", message: `the host key of ${context.target} is not the one in known_hosts; refused` });
    }
    if (/No [A-Z0-9-]+ host key is known|Host key verification failed/i.test(tail)) {
      return new AsmError({ ...base, reasonCode: "ssh_host_key_unknown", message: `${context.target} has no host key in known_hosts; refused (host keys are always checked)` });
    }
    if (/Permission denied \(|Too many authentication failures|no mutual signature/i.test(tail)) {
      return new AsmError({ ...base, reasonCode: "ssh_auth_refused", message: `${context.target} refused the SSH authentication` });
    }
    if (!started && /Connection refused|Connection timed out|No route to host|Could not resolve hostname|Network is unreachable|Name or service not known|connect to host/i.test(tail)) {
      return new AsmError({ ...base, reasonCode: "ssh_host_unreachable", message: `cannot connect to ${context.target}` });
    }
    if (started || /Timeout, server .* not responding|closed by remote host|Broken pipe|Connection reset|Connection closed/i.test(tail)) {
      return new AsmError({ ...base, reasonCode: "ssh_connection_lost", message: `the SSH connection to ${context.target} was lost while the CLI ran` });
    }
    return new AsmError({ ...base, reasonCode: "ssh_host_unreachable", message: `ssh to ${context.target} failed` });
  },
};
