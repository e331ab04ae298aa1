/**
 * Claude Code 2.1.329 in its two modes:
 * - stream-json in and out (`sj-*`), the Agent SDK's protocol and the one asm's adapter speaks:
 *   user messages and `control_response`/`control_request` lines on stdin, `--permission-prompt-tool
 *   stdio` for approvals (`can_use_tool`), `control_request {subtype:"interrupt"}` to interrupt;
 * - one-shot `-p <prompt>` (`p-*`): stdin closed, interrupted by SIGINT.
 * Both with `--output-format stream-json --verbose`; stream-json adds `--include-partial-messages`
 * (text deltas as `stream_event` lines), as asm does.
 */
import type { CliRecording } from "./cli-recording.js";
import { MODEL_API_ERRORS, type ProviderRecordings, type ScenarioContext, type TranscriptScenario, noteFile, scenarioFamily } from "./transcript-scenario.js";

const STREAM_JSON = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json", "--include-partial-messages"];
const INTERACTIVE = [...STREAM_JSON, "--permission-mode", "default", "--permission-prompt-tool", "stdio"];
const BYPASS = [...STREAM_JSON, "--permission-mode", "bypassPermissions"];
/** bypassPermissions refuses to run as root unless the CLI is told it is sandboxed. */
const SANDBOXED = { IS_SANDBOX: "1" };

const user = (text: string): object => ({ type: "user", session_id: "", message: { role: "user", content: [{ type: "text", text }] }, parent_tool_use_id: null });
const isResult = (j: any): boolean => j?.type === "result";
const isCanUseTool = (j: any): boolean => j?.type === "control_request" && j.request?.subtype === "can_use_tool";
const isTextDelta = (j: any): boolean => j?.type === "stream_event" && j.event?.delta?.type === "text_delta";

/** One stream-json turn: the prompt, then everything up to its result line. */
async function turn(cli: CliRecording, prompt: string): Promise<any> {
  cli.send(user(prompt));
  return cli.waitFor("the result line", isResult);
}

async function finish(cli: CliRecording): Promise<void> {
  cli.closeStdin();
  await cli.exit();
}

const streamJson = scenarioFamily("sj", "stream-json");

const oneShot = scenarioFamily("p", "-p");

/** Answers the pending `can_use_tool` request; allow passes the requested input back unchanged. */
function answer(cli: CliRecording, request: any, allow: boolean): void {
  const response = allow ? { behavior: "allow", updatedInput: request.request.input } : { behavior: "deny", message: "denied by the recorder" };
  cli.send({ type: "control_response", response: { subtype: "success", request_id: request.request_id, response } });
}

const interrupt = (cli: CliRecording): void => cli.send({ type: "control_request", request_id: "asm_interrupt_1", request: { subtype: "interrupt" } });

const streamJsonScenarios: TranscriptScenario[] = [
  streamJson("text", "one text turn", async (ctx) => {
    const cli = ctx.start(INTERACTIVE);
    await turn(cli, "say hello [[reply:text:Hello from the mock model]]");
    await finish(cli);
  }),
  streamJson("tool-bypass", "a shell tool that bypassPermissions runs without asking", async (ctx) => {
    const cli = ctx.start(BYPASS, { env: SANDBOXED });
    await turn(cli, "make a file [[reply:tool:touch bypassed.txt]]");
    await finish(cli);
    noteFile(ctx, "bypassed.txt");
  }),
  ...[true, false].map((allow) =>
    streamJson(allow ? "approval-allow" : "approval-deny", `can_use_tool answered ${allow ? "allow" : "deny"}`, async (ctx) => {
      const file = allow ? "allowed.txt" : "denied.txt";
      const cli = ctx.start(INTERACTIVE);
      cli.send(user(`make a file [[reply:tool:touch ${file}]]`));
      answer(cli, await cli.waitFor("can_use_tool", isCanUseTool), allow);
      await cli.waitFor("the result line", isResult);
      await finish(cli);
      noteFile(ctx, file);
    }),
  ),
  streamJson("interrupt-streaming", "an interrupt while the answer streams, then a second turn on the same process", async (ctx) => {
    const cli = ctx.start(INTERACTIVE);
    cli.send(user("stream something [[reply:hang:Partial answer]]"));
    await cli.waitFor("the first text delta", isTextDelta);
    interrupt(cli);
    await cli.waitFor("the interrupted turn's result", isResult);
    await turn(cli, "and now? [[reply:text:Second turn]]");
    await finish(cli);
  }),
  streamJson("interrupt-approval", "an interrupt while can_use_tool waits for an answer", async (ctx) => {
    const cli = ctx.start(INTERACTIVE);
    cli.send(user("make a file [[reply:tool:touch pending.txt]]"));
    await cli.waitFor("can_use_tool", isCanUseTool);
    interrupt(cli);
    await cli.waitFor("the interrupted turn's result", isResult);
    await finish(cli);
    noteFile(ctx, "pending.txt");
  }),
  ...MODEL_API_ERRORS.map((status) =>
    streamJson(`error-${status}`, `the model API answers ${status}`, async (ctx) => {
      const cli = ctx.start(INTERACTIVE);
      await turn(cli, `fail please [[reply:error:${status}]]`);
      await finish(cli);
    }),
  ),
  streamJson("resume", "a second process resumes the first one's session (`--resume`)", async (ctx) => {
    const first = ctx.start(INTERACTIVE);
    const result = await turn(first, "remember the word PAPAYA-7 [[reply:text:noted]]");
    await finish(first);
    const second = ctx.start([...INTERACTIVE, "--resume", result.session_id]);
    await turn(second, "what did I say? [[reply:echo-history]]");
    await finish(second);
  }),
];

const P = (prompt: string, ...more: string[]): string[] => ["-p", prompt, "--output-format", "stream-json", "--verbose", ...more];
/** One-shot runs read no stdin (with an open pipe `-p` waits 3 s for input first). */
const once = (ctx: ScenarioContext, args: string[], env?: Record<string, string>): CliRecording => ctx.start(args, { stdin: "closed", env });

const oneShotScenarios: TranscriptScenario[] = [
  oneShot("text", "one text turn", async (ctx) => {
    await once(ctx, P("say hello [[reply:text:Hello from the mock model]]")).exit();
  }),
  oneShot("tool-default", "a shell tool in the default mode with no prompt tool: denied without asking", async (ctx) => {
    await once(ctx, P("make a file [[reply:tool:touch made.txt]]", "--permission-mode", "default")).exit();
    noteFile(ctx, "made.txt");
  }),
  oneShot("tool-bypass", "a shell tool that bypassPermissions runs", async (ctx) => {
    await once(ctx, P("make a file [[reply:tool:touch bypassed.txt]]", "--permission-mode", "bypassPermissions"), SANDBOXED).exit();
    noteFile(ctx, "bypassed.txt");
  }),
  oneShot("sigint", "SIGINT while the answer streams (partial messages on, to see it stream)", async (ctx) => {
    const cli = once(ctx, P("stream something [[reply:hang:Partial answer]]", "--include-partial-messages"));
    await cli.waitFor("the first text delta", isTextDelta);
    cli.signal("SIGINT");
    await cli.exit();
  }),
  ...MODEL_API_ERRORS.map((status) =>
    oneShot(`error-${status}`, `the model API answers ${status}`, async (ctx) => {
      await once(ctx, P(`fail please [[reply:error:${status}]]`)).exit();
    }),
  ),
  oneShot("resume", "a second run resumes the first one's session (`--resume`)", async (ctx) => {
    const first = once(ctx, P("remember the word PAPAYA-7 [[reply:text:noted]]"));
    const result = await first.waitFor("the result line", isResult);
    await first.exit();
    await once(ctx, P("what did I say? [[reply:echo-history]]", "--resume", result.session_id)).exit();
  }),
];

export const claudeRecordings: ProviderRecordings = { provider: "claude", scenarios: [...streamJsonScenarios, ...oneShotScenarios] };
