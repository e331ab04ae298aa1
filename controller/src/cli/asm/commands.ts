/** The `asm` command tree (commander): every subcommand, its flags and its help. */
import { Command, Option } from "commander";
import { AsmClient, ExecutionMode, Lane, type ConnectOptions } from "@asm/client";
import { EXIT, providerOf, runCommand, watchCommand, type RunFlags } from "./run-command.js";
import { configPath, ContextSchema, CliError, readConfig, resolveConnection, writeConfig, type ConnectionFlags } from "./settings.js";
import type { Output } from "./render.js";

export interface CliIo {
  out: Output;
  err: Output;
  env: NodeJS.ProcessEnv;
  /** Starts the controller or the executor in this process (their own flags and environment). */
  startProcess(which: "controller" | "executor" | "certs", args: string[]): Promise<void>;
  setExitCode(code: number): void;
}

function connection(program: Command, io: CliIo): ConnectOptions & { source: string } {
  return resolveConnection(program.opts<ConnectionFlags>(), io.env);
}

/** A client that reached the controller, or a CliError that says where it looked. */
async function connect(program: Command, io: CliIo): Promise<AsmClient> {
  const where = connection(program, io);
  const client = new AsmClient(where);
  try {
    await client.waitForReady(Number(io.env.ASM_CONNECT_TIMEOUT_MS ?? 3000));
  } catch {
    client.close();
    throw new CliError(`controller not reachable at ${where.address} (from ${where.source})`, "is `asm controller` running? Set the address with --address, ASM_ADDRESS or `asm config set-context`", EXIT.usage);
  }
  return client;
}

/** Runs `fn` with a connected client and closes it. */
async function withClient<T>(program: Command, io: CliIo, fn: (client: AsmClient) => Promise<T>): Promise<T> {
  const client = await connect(program, io);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

const json = (io: CliIo, value: unknown): void => io.out.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v), 2)}\n`);

export function buildProgram(io: CliIo): Command {
  const program = new Command("asm")
    .description("Run coding-agent CLIs as managed sessions through an asm controller.")
    .option("--address <host:port>", "controller address (env ASM_ADDRESS; default: the current context, else 127.0.0.1:50051)")
    .option("--ca <file>", "CA of the controller's certificate: TLS (env ASM_CA)")
    .option("--cert <file>", "client certificate for mTLS (env ASM_CERT)")
    .option("--key <file>", "client key for mTLS (env ASM_KEY)")
    .option("--token <token>", "bearer token or JWT (env ASM_TOKEN)")
    .option("--context <name>", "a named context of the config file (env ASM_CONTEXT)")
    // Connection flags come before the subcommand (`asm --address X run ...`), so a subcommand's
    // own flags (config set-context --address) stay its own.
    .enablePositionalOptions()
    .showHelpAfterError("(asm --help shows every command)")
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .exitOverride();

  program
    .command("controller")
    .description("start a controller (configured by its ASM_* environment; see the README)")
    .allowUnknownOption()
    .argument("[args...]")
    .action((args: string[]) => io.startProcess("controller", args));

  program
    .command("executor")
    .description("start an executor agent (its flags: asm executor --help)")
    .allowUnknownOption()
    .helpOption(false)
    .argument("[args...]")
    .action((args: string[]) => io.startProcess("executor", args));

  program
    .command("run")
    .description("start a run and follow it: live text, tool lines, approvals asked here; Ctrl-C interrupts, twice leaves")
    .argument("<prompt>", "what to ask")
    .option("--session <id>", "run in this session (default: a new one, closed after the run)")
    .option("--provider <name>", "provider of the new session: claude, codex, gemini, amp, cursor", "claude")
    .option("--cwd <dir>", "working directory of the new session (default: this directory)")
    .option("--permission-mode <mode>", "default, auto, bypass or plan")
    .option("--lane <lane>", "auto, core or sdk")
    .option("--model <name>", "model of the new session")
    .option("--json", "print the events as JSON lines instead")
    .addHelpText("after", "\nExit codes: 0 success, 1 failed, 124 timed out, 130 interrupted, 2 usage or connection error.")
    .action(async (prompt: string, flags: RunFlags) => {
      io.setExitCode(await withClient(program, io, (client) => runCommand(client, prompt, flags, io.out, io.env)));
    });

  program
    .command("watch")
    .description("re-attach to a run and follow it to its end")
    .argument("<run-id>")
    .option("--from <n>", "start after this sequence", "0")
    .option("--json", "print the events as JSON lines")
    .action(async (runId: string, flags: { from: string; json?: boolean }) => {
      io.setExitCode(await withClient(program, io, (client) => watchCommand(client, runId, Number(flags.from) || 0, flags.json === true, io.out, io.env)));
    });

  const sessions = program.command("sessions").description("list, create, show and close sessions");
  sessions
    .command("list", { isDefault: true })
    .option("--all", "closed sessions too")
    .action(async (flags: { all?: boolean }) => {
      const res = await withClient(program, io, (c) => c.listSessions({ includeClosed: flags.all === true }));
      for (const s of res.sessions) io.out.write(`${s.sessionId}\t${providerName(s.provider)}\t${s.status === 2 ? "closed" : "open"}\t${s.activeRunIds.length} active, ${s.queuedRunIds.length} queued\n`);
    });
  sessions
    .command("create")
    .option("--provider <name>", "claude, codex, gemini, amp, cursor", "claude")
    .option("--cwd <dir>", "working directory of its runs")
    .option("--lane <lane>", "auto, core or sdk")
    .option("--remote-node <name>", "run on this executor (execution_mode remote_node)")
    .action(async (flags: { provider: string; cwd?: string; lane?: string; remoteNode?: string }) => {
      const lane = flags.lane ? (({ auto: Lane.LANE_AUTO, core: Lane.LANE_CORE, sdk: Lane.LANE_SDK }) as Record<string, Lane>)[flags.lane] : 0;
      if (lane === undefined) throw new CliError(`unknown lane ${JSON.stringify(flags.lane)}`, "auto, core or sdk");
      const defaults = {
        cwd: flags.cwd,
        lane,
        ...(flags.remoteNode ? { executionMode: ExecutionMode.EXECUTION_MODE_REMOTE_NODE, driverOpts: { remote_node: flags.remoteNode } } : {}),
      };
      const s = await withClient(program, io, (c) => c.createSession(providerOf(flags.provider), { defaults }));
      io.out.write(`${s.sessionId}\n`);
    });
  sessions
    .command("show")
    .argument("<session-id>")
    .action(async (id: string) => json(io, await withClient(program, io, (c) => c.getSession(id))));
  sessions
    .command("close")
    .argument("<session-id>")
    .action(async (id: string) => {
      await withClient(program, io, (c) => c.closeSession(id));
      io.out.write(`closed ${id}\n`);
    });

  program
    .command("approve")
    .description("answer an approval a run waits for")
    .argument("<session-id>")
    .argument("<approval-id>")
    .addOption(new Option("--allow", "allow it").conflicts("deny"))
    .addOption(new Option("--deny", "deny it"))
    .option("--reason <text>", "told to the CLI with a deny", "")
    .action(async (sessionId: string, approvalId: string, flags: { allow?: boolean; deny?: boolean; reason: string }) => {
      if (!flags.allow && !flags.deny) throw new CliError("say --allow or --deny", "asm approve SESSION APPROVAL --allow");
      await withClient(program, io, (c) => c.approve(sessionId, approvalId, flags.allow === true, flags.reason));
      io.out.write(`${flags.allow ? "allowed" : "denied"} ${approvalId}\n`);
    });

  program
    .command("interrupt")
    .description("interrupt a run")
    .argument("<run-id>")
    .action(async (runId: string) => {
      const res = await withClient(program, io, (c) => c.interrupt(runId));
      io.out.write(`${["", "not running", "interrupted", "already ended"][res.outcome] ?? String(res.outcome)}\n`);
    });

  program
    .command("lanes")
    .description("provider info, lane info and the lane a run would take")
    .argument("[provider]", "claude, codex, gemini, amp, cursor", "claude")
    .option("--lane <lane>", "auto, core or sdk", "auto")
    .option("--remote", "as for execution_mode remote_node")
    .action(async (provider: string, flags: { lane: string; remote?: boolean }) => {
      const p = providerOf(provider);
      const lane = ({ auto: Lane.LANE_AUTO, core: Lane.LANE_CORE, sdk: Lane.LANE_SDK } as Record<string, Lane>)[flags.lane];
      if (lane === undefined) throw new CliError(`unknown lane ${JSON.stringify(flags.lane)}`, "auto, core or sdk");
      await withClient(program, io, async (c) => {
        const info = await c.providerInfo(p);
        const resolved = await c.resolveLane({ provider: p, lane, executionMode: flags.remote ? ExecutionMode.EXECUTION_MODE_REMOTE_NODE : ExecutionMode.EXECUTION_MODE_LOCAL });
        json(io, { provider: info, resolved: resolved.observability });
      });
    });

  program
    .command("executors")
    .description("the controller's executors and their health (admin)")
    .action(async () => {
      const res = await withClient(program, io, (c) => c.listExecutors());
      for (const e of res.executors) io.out.write(`${e.name}\t${e.address}\t${e.healthy ? "healthy" : "unhealthy"}\n`);
    });

  program
    .command("certs")
    .description("a development PKI (the flags of make certs: --out DIR, --executor NAME, --force)")
    .allowUnknownOption()
    .helpOption(false)
    .argument("[args...]")
    .action(async (args: string[]) => io.startProcess("certs", args));

  const config = program.command("config").description("named contexts: where asm connects, and how");
  config
    .command("set-context")
    .argument("<name>")
    .requiredOption("--address <host:port>", "controller address")
    .option("--ca <file>")
    .option("--cert <file>")
    .option("--key <file>")
    .option("--token <token>")
    .option("--use", "make it the current context")
    .action((name: string, flags: { address: string; ca?: string; cert?: string; key?: string; token?: string; use?: boolean }) => {
      const path = configPath(io.env);
      const file = readConfig(path);
      const { use, ...context } = flags;
      file.contexts[name] = ContextSchema.parse(Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined)));
      if (use || file.current === undefined) file.current = name;
      writeConfig(path, file);
      io.out.write(`context ${name} saved in ${path}${file.current === name ? " (current)" : ""}\n`);
    });
  config
    .command("use")
    .argument("<name>")
    .action((name: string) => {
      const path = configPath(io.env);
      const file = readConfig(path);
      if (!file.contexts[name]) throw new CliError(`no context named ${JSON.stringify(name)} in ${path}`, "asm config set-context NAME --address HOST:PORT");
      file.current = name;
      writeConfig(path, file);
      io.out.write(`current context: ${name}\n`);
    });
  config
    .command("view")
    .action(() => {
      const file = readConfig(configPath(io.env));
      const shown = Object.fromEntries(Object.entries(file.contexts).map(([k, v]) => [k, v.token ? { ...v, token: "[redacted]" } : v]));
      json(io, { path: configPath(io.env), current: file.current ?? null, contexts: shown });
    });

  return program;
}

function providerName(p: number): string {
  return ["?", "claude", "codex", "gemini", "amp", "cursor"][p] ?? String(p);
}
