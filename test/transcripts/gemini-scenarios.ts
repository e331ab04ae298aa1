/**
 * Gemini CLI 0.61.0 in its two modes, with `~/.gemini/settings.json` choosing API-key auth,
 * `GOOGLE_GEMINI_BASE_URL` pointing at the mock and `GEMINI_CLI_NO_RELAUNCH=true`:
 * - ACP (`--acp`, `acp-*`): JSON-RPC 2.0. asm's adapter writes `initialize`, then `authenticate`,
 *   `session/new` and `session/prompt` one step per answer (the CLI handles requests concurrently,
 *   so pipelining them races), answers `session/request_permission` with an option id, and
 *   interrupts with `session/cancel`; the scenarios speak exactly that. ACP `session/load` is broken
 *   in 0.61 (it overwrites the stored session), so continuation in ACP is a second prompt on the
 *   same warm process (`acp-interrupt-streaming`) and across processes it is a one-shot `--resume`;
 * - one-shot `--output-format stream-json` (`p-*`): the prompt written to stdin, which is then
 *   closed; interrupted by SIGINT, resumed with `--resume <id>`.
 */
import type { CliRecording } from "./cli-recording.js";
import { MODEL_API_ERRORS, type ProviderRecordings, type ScenarioContext, type TranscriptScenario, isResponse, noteFile, once, scenarioFamily } from "./transcript-scenario.js";

const COMMON = (mode: "default" | "yolo"): string[] => ["--skip-trust", "--approval-mode", mode, "-m", "gemini-2.5-flash"];

// ---------------------------------------------------------------------------------------------
// ACP

const rpc = (id: number, method: string, params: unknown): object => ({ jsonrpc: "2.0", id, method, params });
const isPermissionRequest = (j: any): boolean => j?.method === "session/request_permission" && j.id !== undefined;
const isMessageChunk = (j: any): boolean => j?.method === "session/update" && j.params?.update?.sessionUpdate === "agent_message_chunk";

class AcpSession {
  private nextId = 4;
  constructor(
    readonly cli: CliRecording,
    readonly sessionId: string,
  ) {}

  /** Sends `session/prompt` and returns its request id; `answered` waits for its answer. */
  prompt(text: string): number {
    const id = this.nextId++;
    this.cli.send(rpc(id, "session/prompt", { sessionId: this.sessionId, prompt: [{ type: "text", text }] }));
    return id;
  }

  answered(id: number): Promise<any> {
    return this.cli.waitFor("the session/prompt answer", isResponse(id));
  }

  cancel(): void {
    this.cli.send({ jsonrpc: "2.0", method: "session/cancel", params: { sessionId: this.sessionId } });
  }
}

/** `gemini --acp` through the handshake asm writes, one step per answer, up to a new session. */
async function acp(ctx: ScenarioContext): Promise<AcpSession> {
  const cli = ctx.start(["--acp", ...COMMON("default")]);
  cli.send(rpc(1, "initialize", { protocolVersion: 1, clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false } }));
  await cli.waitFor("the initialize answer", isResponse(1));
  cli.send(rpc(2, "authenticate", { methodId: "gemini-api-key" }));
  await cli.waitFor("the authenticate answer", isResponse(2));
  cli.send(rpc(3, "session/new", { cwd: ctx.work, mcpServers: [] }));
  const answer = await cli.waitFor("the session/new answer", isResponse(3));
  return new AcpSession(cli, answer.result.sessionId);
}

async function closeAcp(cli: CliRecording): Promise<void> {
  cli.closeStdin();
  await cli.exit();
}

/** The option that means "this once" (`allow_once` / `reject_once`), as asm picks it. */
function optionId(request: any, allow: boolean): string {
  const options: { optionId: string; kind: string }[] = request.params.options;
  const kind = allow ? "allow_once" : "reject_once";
  return (options.find((o) => o.kind === kind) ?? options.find((o) => o.kind.startsWith(allow ? "allow" : "reject")))!.optionId;
}

const acpScenario = scenarioFamily("acp", "ACP");

async function acpTurn(ctx: ScenarioContext, text: string): Promise<void> {
  const session = await acp(ctx);
  await session.answered(session.prompt(text));
  await closeAcp(session.cli);
}

const acpScenarios: TranscriptScenario[] = [
  acpScenario("text", "one text turn", (ctx) => acpTurn(ctx, "say hello [[reply:text:Hello from the mock model]]")),
  ...[true, false].map((allow) =>
    acpScenario(allow ? "approval-allow" : "approval-deny", `session/request_permission answered ${allow ? "allow_once" : "reject_once"}`, async (ctx) => {
      const file = allow ? "allowed.txt" : "denied.txt";
      const session = await acp(ctx);
      const id = session.prompt(`make a file [[reply:tool:touch ${file}]]`);
      const request = await session.cli.waitFor("session/request_permission", isPermissionRequest);
      session.cli.send({ jsonrpc: "2.0", id: request.id, result: { outcome: { outcome: "selected", optionId: optionId(request, allow) } } });
      await session.answered(id);
      await closeAcp(session.cli);
      noteFile(ctx, file);
    }),
  ),
  acpScenario("interrupt-streaming", "session/cancel while the answer streams, then a second prompt on the same session and process", async (ctx) => {
    const session = await acp(ctx);
    const id = session.prompt("stream something [[reply:hang:Partial answer]]");
    await session.cli.waitFor("the first message chunk", isMessageChunk);
    session.cancel();
    await session.answered(id);
    await session.answered(session.prompt("and now? [[reply:text:Second turn]]"));
    await closeAcp(session.cli);
  }),
  acpScenario("interrupt-approval", "session/cancel while session/request_permission waits, then the cancelled outcome ACP requires", async (ctx) => {
    const session = await acp(ctx);
    const id = session.prompt("make a file [[reply:tool:touch pending.txt]]");
    const request = await session.cli.waitFor("session/request_permission", isPermissionRequest);
    session.cancel();
    session.cli.send({ jsonrpc: "2.0", id: request.id, result: { outcome: { outcome: "cancelled" } } });
    await session.answered(id);
    await closeAcp(session.cli);
    noteFile(ctx, "pending.txt");
  }),
  ...MODEL_API_ERRORS.map((status) => acpScenario(`error-${status}`, `the model API answers ${status}`, (ctx) => acpTurn(ctx, `fail please [[reply:error:${status}]]`))),
];

// ---------------------------------------------------------------------------------------------
// one-shot (prompt on stdin)

/** One-shot mode with the prompt on stdin, as asm passes it (never on the command line). */
const P = (prompt: string, mode: "default" | "yolo" = "default", resume?: string): { args: string[]; prompt: string } => ({
  args: ["--output-format", "stream-json", ...COMMON(mode), ...(resume ? ["--resume", resume] : [])],
  prompt,
});
const isAssistantDelta = (j: any): boolean => j?.type === "message" && j.role === "assistant";

const pScenario = scenarioFamily("p", "one-shot");

const promptScenarios: TranscriptScenario[] = [
  pScenario("text", "one text turn", async (ctx) => {
    await once(ctx, P("say hello [[reply:text:Hello from the mock model]]")).exit();
  }),
  pScenario("tool-default", "a shell tool in the default mode: risky tools are not offered headless", async (ctx) => {
    await once(ctx, P("make a file [[reply:tool:touch made.txt]]")).exit();
    noteFile(ctx, "made.txt");
  }),
  pScenario("tool-yolo", "a shell tool that yolo runs without asking", async (ctx) => {
    await once(ctx, P("make a file [[reply:tool:touch yolo.txt]]", "yolo")).exit();
    noteFile(ctx, "yolo.txt");
  }),
  pScenario("sigint", "SIGINT while the answer streams", async (ctx) => {
    const cli = once(ctx, P("stream something [[reply:hang:Partial answer]]"));
    await cli.waitFor("the first assistant delta", isAssistantDelta);
    cli.signal("SIGINT");
    await cli.exit();
  }),
  ...MODEL_API_ERRORS.map((status) =>
    pScenario(`error-${status}`, `the model API answers ${status}`, async (ctx) => {
      await once(ctx, P(`fail please [[reply:error:${status}]]`)).exit();
    }),
  ),
  pScenario("resume", "a second run resumes the first one's session (`--resume`)", async (ctx) => {
    const first = once(ctx, P("remember the word PAPAYA-7 [[reply:text:noted]]"));
    const init = await first.waitFor("init", (j) => j?.type === "init");
    await first.exit();
    await once(ctx, P("what did I say? [[reply:echo-history]]", "default", init.session_id)).exit();
  }),
];

export const geminiRecordings: ProviderRecordings = { provider: "gemini", scenarios: [...acpScenarios, ...promptScenarios] };
