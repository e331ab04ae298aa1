/**
 * `asm run` and `asm watch`: a run on the terminal (live text, a line per tool, approvals asked on
 * the terminal, Ctrl-C interrupts and a second Ctrl-C leaves), or its events as JSON lines
 * (`--json`). The exit code says how the run ended.
 */
import { createInterface } from "node:readline";
import { Lane, PermissionMode, Provider, runOptions, type AsmClient, type Event, type RunStream } from "@asm/client";
import { Event as EventMessage, reduceEvents } from "@asm/shared";
import { RunRenderer, type Output } from "./render.js";
import { CliError } from "./settings.js";

/** Exit codes by how the run ended. */
export const EXIT = { success: 0, failed: 1, usage: 2, cancelled: 130, timeout: 124 } as const;

export interface RunFlags {
  session?: string;
  provider?: string;
  cwd?: string;
  permissionMode?: string;
  lane?: string;
  model?: string;
  json?: boolean;
}

const PROVIDERS: Record<string, Provider> = { claude: Provider.PROVIDER_CLAUDE, codex: Provider.PROVIDER_CODEX, gemini: Provider.PROVIDER_GEMINI, amp: Provider.PROVIDER_AMP, cursor: Provider.PROVIDER_CURSOR };
const MODES: Record<string, PermissionMode> = { default: PermissionMode.PERMISSION_MODE_DEFAULT, auto: PermissionMode.PERMISSION_MODE_AUTO, bypass: PermissionMode.PERMISSION_MODE_BYPASS, plan: PermissionMode.PERMISSION_MODE_PLAN };
const LANES: Record<string, Lane> = { auto: Lane.LANE_AUTO, core: Lane.LANE_CORE, sdk: Lane.LANE_SDK };

export function providerOf(name: string): Provider {
  const p = PROVIDERS[name.toLowerCase()];
  if (p === undefined) throw new CliError(`unknown provider ${JSON.stringify(name)}`, `one of ${Object.keys(PROVIDERS).join(", ")}`);
  return p;
}

function choice<T>(table: Record<string, T>, value: string | undefined, what: string): T | undefined {
  if (value === undefined) return undefined;
  const v = table[value.toLowerCase()];
  if (v === undefined) throw new CliError(`unknown ${what} ${JSON.stringify(value)}`, `one of ${Object.keys(table).join(", ")}`);
  return v;
}

/** The exit code of a run, from its terminal event. */
export function exitCodeOf(events: readonly Event[]): number {
  const last = events.at(-1)?.payload;
  if (last?.$case === "result" || last?.$case === "runCompleted") return EXIT.success;
  if (last?.$case === "error") {
    const kind = last.value.error?.kind;
    if (kind === "user_cancelled") return EXIT.cancelled;
    if (kind === "timeout") return EXIT.timeout;
  }
  return EXIT.failed;
}

export async function runCommand(client: AsmClient, prompt: string, flags: RunFlags, out: Output, env: NodeJS.ProcessEnv): Promise<number> {
  let sessionId = flags.session;
  let created = false;
  if (!sessionId) {
    const defaults = runOptions({ cwd: flags.cwd ?? process.cwd(), permissionMode: choice(MODES, flags.permissionMode, "permission mode") ?? 0, lane: choice(LANES, flags.lane, "lane") ?? 0, model: flags.model });
    sessionId = (await client.createSession(providerOf(flags.provider ?? "claude"), { defaults })).sessionId;
    created = true;
  }
  const run = client.run(sessionId, prompt);
  try {
    return await follow(client, run, sessionId, flags.json === true, out, env);
  } finally {
    if (created) await client.closeSession(sessionId).catch(() => undefined);
  }
}

export async function watchCommand(client: AsmClient, runId: string, from: number, json: boolean, out: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const run = await client.getRun(runId);
  return follow(client, client.watch(runId, from), run.sessionId, json, out, env);
}

async function follow(client: AsmClient, run: RunStream, sessionId: string, json: boolean, out: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const renderer = new RunRenderer(out, env);
  const events: Event[] = [];
  let interrupts = 0;
  const interactive = process.stdin.isTTY === true && !json;
  const onSigint = (): void => {
    interrupts += 1;
    if (interrupts > 1) process.exit(EXIT.cancelled);
    out.write(json ? "" : "\n^C interrupting the run (Ctrl-C again to leave)\n");
    void client.interrupt(run.runId).catch(() => undefined);
  };
  process.on("SIGINT", onSigint);
  if (!json) renderer.waiting();
  try {
    for await (const event of run) {
      events.push(event);
      if (json) {
        out.write(`${JSON.stringify(EventMessage.toJSON(event))}\n`);
        continue;
      }
      renderer.event(event);
      if (event.payload?.$case === "approvalRequested") {
        const approvalId = event.payload.value.approvalId;
        const question = renderer.approvalPrompt(event);
        if (!interactive) {
          out.write(`  answer with: asm approve ${sessionId} ${approvalId} --allow | --deny\n`);
          continue;
        }
        const allow = await ask(question, onSigint);
        if (allow !== undefined) await client.approve(sessionId, approvalId, allow, allow ? "" : "denied on the terminal").catch(() => undefined);
        renderer.waiting();
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
    renderer.close();
  }
  const code = exitCodeOf(events);
  if (!json) {
    const result = reduceEvents(events);
    const status = events.at(-1)?.payload?.$case === "error" ? "failed" : "done";
    renderer.summary(code === EXIT.cancelled ? "interrupted" : code === EXIT.timeout ? "timed out" : status, result.cost?.costUsd ?? 0, result.durationMs, code === EXIT.success);
  }
  return code;
}

/** Asks on the terminal; y/yes allows, anything else denies; Ctrl-C while asking interrupts. */
function ask(question: string, onSigint: () => void): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
    let answered = false;
    rl.on("SIGINT", () => {
      answered = true;
      rl.close();
      onSigint();
      resolve(undefined);
    });
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(/^y(es)?$/i.test(answer.trim()));
    });
    rl.on("close", () => {
      if (!answered) resolve(false);
    });
  });
}
