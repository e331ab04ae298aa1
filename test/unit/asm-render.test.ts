import { describe, expect, it } from "vitest";
import { payload, type Event } from "@asm/shared";
import { RunRenderer } from "../../controller/src/cli/asm/render.js";
import { exitCodeOf } from "../../controller/src/cli/asm/run-command.js";

const event = (p: Event["payload"], sequence = 1): Event => ({ id: "", runId: "run_1", sessionId: "ses_1", sequence, kind: 0, timestamp: undefined, providerSessionId: "", metadata: undefined, payload: p }) as unknown as Event;

function render(isTTY: boolean, env: NodeJS.ProcessEnv): string {
  let out = "";
  const r = new RunRenderer({ write: (s) => (out += s), isTTY }, env);
  r.event(event(payload("toolUse", { toolName: "Bash", toolCallId: "t1", input: { command: "ls" } })));
  r.event(event(payload("assistantDelta", { content: "hi", index: 0 })));
  r.summary("done", 0.0123, 1500, true);
  r.close();
  return out;
}

describe("asm's terminal rendering", () => {
  it("colours on a terminal, none with NO_COLOR, none off a terminal", () => {
    expect(render(true, {})).toMatch(/\x1b\[\d+m/);
    expect(render(true, { NO_COLOR: "1" })).not.toMatch(/\x1b\[\d+m/);
    expect(render(false, {})).not.toMatch(/\x1b\[/);
  });

  it("a line per tool call, the text as it comes, cost and duration at the end", () => {
    const out = render(false, {});
    expect(out).toBe('⚙ Bash {"command":"ls"}\nhi\n✓ done · $0.0123 · 1.5 s\n');
  });

  it("exit codes by outcome", () => {
    const error = (kind: string) => [event(payload("error", { error: { kind, reasonCode: "x", message: "m" } as never }))];
    expect(exitCodeOf([event(payload("result", { status: "success", stopReason: "", text: "", object: undefined, output: undefined }))])).toBe(0);
    expect(exitCodeOf(error("user_cancelled"))).toBe(130);
    expect(exitCodeOf(error("timeout"))).toBe(124);
    expect(exitCodeOf(error("provider_error"))).toBe(1);
    expect(exitCodeOf([])).toBe(1);
  });
});
