/**
 * Codex 0.169.0 in its two modes, with the mock provider configured in `$CODEX_HOME/config.toml`:
 * - `codex app-server` (`as-*`): JSON-RPC without the "jsonrpc" field, one object per line. asm's
 *   adapter pipelines `initialize`, `initialized` and `thread/start` (or `thread/resume`), sends
 *   `turn/start` once the thread exists, answers `item/commandExecution/requestApproval` with
 *   `{decision}`, and interrupts with `turn/interrupt`; the scenarios speak exactly that;
 * - `codex exec --json … -` (`exec-*`): the prompt written to stdin, which is then closed; resumed
 *   with `exec … resume <id> -`, interrupted by SIGINT.
 */
import type { CliRecording } from "./cli-recording.js";
import { MODEL_API_ERRORS, type ProviderRecordings, type ScenarioContext, type TranscriptScenario, isResponse, noteFile, once, scenarioFamily } from "./transcript-scenario.js";

const MODEL = "gpt-5.5";

type Sandbox = "read-only" | "workspace-write" | "danger-full-access";

// ---------------------------------------------------------------------------------------------
// app-server

const method = (name: string) => (j: any) => j?.method === name;
const isApprovalRequest = (j: any): boolean => j?.method === "item/commandExecution/requestApproval" && j.id !== undefined;

/** An app-server process with its thread: the handshake asm writes right after spawn, then the thread's answer. */
async function appServer(ctx: ScenarioContext, thread: { resume?: string; sandbox?: Sandbox } = {}): Promise<{ cli: CliRecording; threadId: string }> {
  const cli = ctx.start(["app-server"]);
  const params = { model: MODEL, cwd: ctx.work, approvalPolicy: "untrusted", sandbox: thread.sandbox ?? "read-only" };
  cli.send({ method: "initialize", id: 1, params: { clientInfo: { name: "asm-transcripts", title: null, version: "1" }, capabilities: { experimentalApi: true, requestAttestation: false } } });
  cli.send({ method: "initialized" });
  if (thread.resume) cli.send({ method: "thread/resume", id: 2, params: { threadId: thread.resume, ...params, excludeTurns: true } });
  else cli.send({ method: "thread/start", id: 2, params });
  const answer = await cli.waitFor("the thread", isResponse(2));
  return { cli, threadId: answer.result.thread.id };
}

class Turns {
  private nextId = 3;
  constructor(
    private readonly cli: CliRecording,
    private readonly threadId: string,
  ) {}

  /** Sends `turn/start` and returns the turn's id from its answer. */
  async start(text: string): Promise<string> {
    const id = this.nextId++;
    this.cli.send({ method: "turn/start", id, params: { threadId: this.threadId, input: [{ type: "text", text, text_elements: [] }] } });
    const answer = await this.cli.waitFor("the turn/start answer", isResponse(id));
    return answer.result.turn.id;
  }

  completed(): Promise<any> {
    return this.cli.waitFor("turn/completed", method("turn/completed"));
  }

  interrupt(turnId: string): void {
    this.cli.send({ method: "turn/interrupt", id: this.nextId++, params: { threadId: this.threadId, turnId } });
  }
}

async function closeAppServer(cli: CliRecording): Promise<void> {
  cli.closeStdin();
  await cli.exit();
}

const asScenario = scenarioFamily("as", "app-server");

/** One thread, one turn of `prompt` to its end. */
async function oneTurn(ctx: ScenarioContext, prompt: string): Promise<void> {
  const { cli, threadId } = await appServer(ctx);
  const turns = new Turns(cli, threadId);
  await turns.start(prompt);
  await turns.completed();
  await closeAppServer(cli);
}

const appServerScenarios: TranscriptScenario[] = [
  asScenario("text", "one text turn", (ctx) => oneTurn(ctx, "say hello [[reply:text:Hello from the mock model]]")),
  ...[true, false].map((allow) =>
    asScenario(allow ? "approval-allow" : "approval-deny", `requestApproval answered ${allow ? "accept" : "decline"}`, async (ctx) => {
      const file = allow ? "allowed.txt" : "denied.txt";
      const { cli, threadId } = await appServer(ctx);
      const turns = new Turns(cli, threadId);
      await turns.start(`make a file [[reply:tool:touch ${file}]]`);
      const request = await cli.waitFor("requestApproval", isApprovalRequest);
      cli.send({ id: request.id, result: { decision: allow ? "accept" : "decline" } });
      await turns.completed();
      await closeAppServer(cli);
      noteFile(ctx, file);
    }),
  ),
  asScenario("interrupt-streaming", "turn/interrupt while the answer streams, then a second turn on the same thread and process", async (ctx) => {
    const { cli, threadId } = await appServer(ctx);
    const turns = new Turns(cli, threadId);
    const turnId = await turns.start("stream something [[reply:hang:Partial answer]]");
    await cli.waitFor("the first text delta", method("item/agentMessage/delta"));
    turns.interrupt(turnId);
    await turns.completed();
    await turns.start("and now? [[reply:text:Second turn]]");
    await turns.completed();
    await closeAppServer(cli);
  }),
  asScenario("interrupt-approval", "turn/interrupt while requestApproval waits for an answer", async (ctx) => {
    const { cli, threadId } = await appServer(ctx);
    const turns = new Turns(cli, threadId);
    const turnId = await turns.start("make a file [[reply:tool:touch pending.txt]]");
    await cli.waitFor("requestApproval", isApprovalRequest);
    turns.interrupt(turnId);
    await turns.completed();
    await closeAppServer(cli);
    noteFile(ctx, "pending.txt");
  }),
  ...MODEL_API_ERRORS.map((status) => asScenario(`error-${status}`, `the model API answers ${status}`, (ctx) => oneTurn(ctx, `fail please [[reply:error:${status}]]`))),
  asScenario("resume", "a second process resumes the first one's thread (`thread/resume`)", async (ctx) => {
    const first = await appServer(ctx);
    const firstTurns = new Turns(first.cli, first.threadId);
    await firstTurns.start("remember the word PAPAYA-7 [[reply:text:noted]]");
    await firstTurns.completed();
    await closeAppServer(first.cli);
    const second = await appServer(ctx, { resume: first.threadId });
    const secondTurns = new Turns(second.cli, second.threadId);
    await secondTurns.start("what did I say? [[reply:echo-history]]");
    await secondTurns.completed();
    await closeAppServer(second.cli);
  }),
];

// ---------------------------------------------------------------------------------------------
// exec

/** `codex exec … -`: the prompt on stdin, as asm passes it (never on the command line). */
const exec = (prompt: string, flags: string[] = [], resume?: string): { args: string[]; prompt: string } => ({
  args: ["exec", "--json", "--skip-git-repo-check", ...flags, "-m", MODEL, ...(resume ? ["resume", resume] : []), "-"],
  prompt,
});

const execScenario = scenarioFamily("exec", "exec");

const execScenarios: TranscriptScenario[] = [
  execScenario("text", "one text turn", async (ctx) => {
    await once(ctx, exec("say hello [[reply:text:Hello from the mock model]]")).exit();
  }),
  execScenario("tool-bypass", "a shell tool run with approvals and sandbox bypassed", async (ctx) => {
    await once(ctx, exec("make a file [[reply:tool:touch bypassed.txt]]", ["--dangerously-bypass-approvals-and-sandbox"])).exit();
    noteFile(ctx, "bypassed.txt");
  }),
  execScenario("tool-workspace-write", "a shell tool in the workspace-write sandbox (asm's auto mode)", async (ctx) => {
    await once(ctx, exec("make a file [[reply:tool:touch sandboxed.txt]]", ["--sandbox", "workspace-write"])).exit();
    noteFile(ctx, "sandboxed.txt");
  }),
  execScenario("sigint", "SIGINT while the model call is open", async (ctx) => {
    const cli = once(ctx, exec("stream something [[reply:hang]]"));
    await cli.waitFor("turn.started", (j) => j?.type === "turn.started");
    await ctx.mock.waitForRequest((r) => r.route === "turn");
    cli.signal("SIGINT");
    await cli.exit();
  }),
  ...MODEL_API_ERRORS.map((status) =>
    execScenario(`error-${status}`, `the model API answers ${status}`, async (ctx) => {
      await once(ctx, exec(`fail please [[reply:error:${status}]]`)).exit();
    }),
  ),
  execScenario("resume", "a second run resumes the first one's thread (`exec resume <id>`)", async (ctx) => {
    const first = once(ctx, exec("remember the word PAPAYA-7 [[reply:text:noted]]"));
    const started = await first.waitFor("thread.started", (j) => j?.type === "thread.started");
    await first.exit();
    await once(ctx, exec("what did I say? [[reply:echo-history]]", [], started.thread_id)).exit();
  }),
];

export const codexRecordings: ProviderRecordings = { provider: "codex", scenarios: [...appServerScenarios, ...execScenarios] };
