import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildFakeCli } from "../fake-cli/build-fake-cli.js";

type Json = Record<string, any>;

const BASE_ARGS = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json"];

let root: string;
let cliPath: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "asm-fake-cli-"));
  cliPath = await buildFakeCli(join(root, "bin"));
}, 30_000);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  lines: string[];
  record: string;
  cwd: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  send(obj: unknown): void;
  waitFor(pred: (msg: Json) => boolean, timeoutMs?: number): Promise<Json>;
  records(): Json[];
  messages(): Json[];
}

const running: Running[] = [];
let counter = 0;

function start(extraArgs: string[]): Running {
  counter++;
  const cwd = mkdtempSync(join(root, `cwd-${counter}-`));
  const record = join(root, `record-${counter}.jsonl`);
  const child = spawn(process.execPath, [cliPath, ...BASE_ARGS, ...extraArgs], {
    cwd,
    env: { PATH: process.env["PATH"], FAKE_CLI_RECORD: record },
    stdio: ["pipe", "pipe", "pipe"],
    // Own process group, so afterEach can kill the fake and its grandchildren together.
    detached: true,
  });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let buf = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.resume();
  child.stdin!.on("error", () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on("exit", (code, signal) => {
      res({ code, signal });
      for (const w of waiters.splice(0)) w();
    });
  });
  const messages = (): Json[] =>
    lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Json];
      } catch {
        return [];
      }
    });
  const r: Running = {
    child,
    lines,
    record,
    cwd,
    exited,
    send(obj) {
      child.stdin!.write(JSON.stringify(obj) + "\n");
    },
    async waitFor(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = messages().find(pred);
        if (hit) return hit;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`fake CLI exited before expected line; got:\n${lines.join("\n")}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for line; got:\n${lines.join("\n")}`);
        await new Promise<void>((res) => {
          const t = setTimeout(res, left);
          waiters.push(() => {
            clearTimeout(t);
            res();
          });
        });
      }
    },
    records() {
      if (!existsSync(record)) return [];
      return readFileSync(record, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Json);
    },
    messages,
  };
  running.push(r);
  return r;
}

function userMessage(text: string): Json {
  return {
    type: "user",
    session_id: "",
    message: { role: "user", content: [{ type: "text", text }] },
    parent_tool_use_id: null,
  };
}

afterEach(() => {
  for (const r of running.splice(0)) {
    try {
      if (r.child.pid !== undefined) process.kill(-r.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("fake claude CLI", () => {
  it("answers initialize and runs a text turn: system init, assistant, result", async () => {
    const r = start(["--permission-mode", "default"]);
    r.send({ type: "control_request", request_id: "init_1", request: { subtype: "initialize", hooks: null } });
    r.send(userMessage("hello [[echo]]"));
    await r.waitFor((m) => m["type"] === "result");
    r.child.stdin!.end();
    expect(await r.exited).toEqual({ code: 0, signal: null });

    const msgs = r.lines.map((l) => JSON.parse(l) as Json);
    expect(msgs.map((m) => m["type"])).toEqual(["control_response", "system", "assistant", "result"]);
    const [ctl, init, assistant, result] = msgs as [Json, Json, Json, Json];
    expect(ctl["response"]).toMatchObject({ subtype: "success", request_id: "init_1" });
    expect(init).toMatchObject({ subtype: "init", permissionMode: "default", cwd: r.cwd });
    expect(init["session_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(Array.isArray(init["tools"])).toBe(true);
    expect(assistant["message"]["content"]).toEqual([{ type: "text", text: "echo:hello" }]);
    expect(assistant["session_id"]).toBe(init["session_id"]);
    expect(result).toMatchObject({
      subtype: "success",
      is_error: false,
      result: "echo:hello",
      stop_reason: "end_turn",
      session_id: init["session_id"],
      num_turns: 1,
    });
    expect(result["usage"]).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });

    const recs = r.records();
    expect(recs[0]).toMatchObject({ t: "start", pid: r.child.pid, pgid: r.child.pid });
    expect(recs[0]!["env_keys"]).toEqual(["FAKE_CLI_RECORD", "PATH"]);
    expect(recs.filter((x) => x["t"] === "stdin")).toHaveLength(2);
    expect(recs.at(-1)).toEqual({ t: "exit", code: 0 });
  });

  it("asks can_use_tool over stdio and runs the command after allow", async () => {
    const r = start(["--permission-mode", "default", "--permission-prompt-tool", "stdio"]);
    r.send(userMessage("go [[scenario:tool]] [[cmd:touch made.txt]]"));
    const req = await r.waitFor((m) => m["type"] === "control_request");
    expect(req["request_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(req["request"]).toMatchObject({
      subtype: "can_use_tool",
      tool_name: "Bash",
      display_name: "Bash",
      input: { command: "touch made.txt", description: "Run a command" },
      blocked_path: join(r.cwd, "made.txt"),
      tool_use_id: expect.stringMatching(/^toolu_fake_\d+$/),
    });
    expect(existsSync(join(r.cwd, "made.txt"))).toBe(false);
    r.send({
      type: "control_response",
      response: {
        subtype: "success",
        request_id: req["request_id"],
        response: { behavior: "allow", updatedInput: req["request"]["input"] },
      },
    });
    const result = await r.waitFor((m) => m["type"] === "result");
    expect(result).toMatchObject({ subtype: "success", result: "done: (Bash completed with no output)", num_turns: 2 });
    expect(existsSync(join(r.cwd, "made.txt"))).toBe(true);
    const toolResult = r.messages().find((m) => m["type"] === "user")!;
    expect(toolResult["tool_result_meta"]).toEqual([
      { id: req["request"]["tool_use_id"], permission_decision: { decision: "accept", source: "user_temporary" } },
    ]);
    expect(r.records()).toContainEqual({ t: "approval", request_id: req["request_id"], behavior: "allow" });
  });

  it("does not run the command after deny", async () => {
    const r = start(["--permission-mode", "default", "--permission-prompt-tool", "stdio"]);
    r.send(userMessage("go [[scenario:tool]] [[cmd:touch nope.txt]]"));
    const req = await r.waitFor((m) => m["type"] === "control_request");
    r.send({
      type: "control_response",
      response: { subtype: "success", request_id: req["request_id"], response: { behavior: "deny", message: "no way" } },
    });
    const result = await r.waitFor((m) => m["type"] === "result");
    expect(result).toMatchObject({ subtype: "success", is_error: false, result: "denied: no way" });
    expect(existsSync(join(r.cwd, "nope.txt"))).toBe(false);
    const toolResult = r.messages().find((m) => m["type"] === "user")!;
    expect(toolResult["message"]["content"][0]).toMatchObject({ type: "tool_result", content: "no way", is_error: true });
    expect(toolResult["tool_result_meta"][0]["permission_decision"]).toEqual({ decision: "reject", source: "user_reject" });
    expect(r.records()).toContainEqual({ t: "approval", request_id: req["request_id"], behavior: "deny", message: "no way" });
  });

  it("handles an interrupt control request mid-turn and stays usable", async () => {
    const r = start(["--permission-mode", "default"]);
    r.send(userMessage("[[scenario:slow]] [[n:1000]] [[ms:50]]"));
    await r.waitFor((m) => m["type"] === "assistant");
    r.send({ type: "control_request", request_id: "int_2", request: { subtype: "interrupt" } });
    const result = await r.waitFor((m) => m["type"] === "result");
    const msgs = r.messages();
    const ctlIdx = msgs.findIndex((m) => m["type"] === "control_response");
    expect(msgs[ctlIdx]).toEqual({
      type: "control_response",
      response: { subtype: "success", request_id: "int_2", response: { still_queued: [] } },
    });
    const tail = msgs.slice(ctlIdx + 1);
    expect(tail.map((m) => m["type"])).toEqual(["assistant", "user", "result"]);
    expect(tail[0]!["aborted"]).toBe(true);
    expect(tail[1]!["message"]["content"]).toEqual([{ type: "text", text: "[Request interrupted by user]" }]);
    expect(result).toMatchObject({
      subtype: "error_during_execution",
      is_error: true,
      terminal_reason: "aborted_streaming",
    });

    // The session keeps going: a second turn works with the same session id.
    r.send(userMessage("again"));
    const second = await r.waitFor((m) => m["type"] === "result" && m["subtype"] === "success");
    expect(second["session_id"]).toBe(result["session_id"]);
    r.child.stdin!.end();
    expect((await r.exited).code).toBe(0);
  });

  it("exits 0 when stdin closes", async () => {
    const r = start(["--permission-mode", "default"]);
    r.child.stdin!.end();
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.lines).toEqual([]);
  });

  it("stubborn ignores SIGINT and only dies to SIGKILL", async () => {
    const r = start(["--permission-mode", "default"]);
    r.send(userMessage("[[scenario:stubborn]]"));
    await r.waitFor((m) => m["type"] === "system" && m["subtype"] === "init");
    await expect.poll(() => r.records().some((x) => x["t"] === "grandchild"), { timeout: 5000 }).toBe(true);
    const grandchild = r.records().find((x) => x["t"] === "grandchild");
    expect(grandchild?.["pid"]).toEqual(expect.any(Number));

    const pid = r.child.pid!;
    r.child.kill("SIGINT");
    r.child.kill("SIGTERM");
    r.send({ type: "control_request", request_id: "int_1", request: { subtype: "interrupt" } });
    r.child.stdin!.end();
    // Every stimulus arrived and was handled, without effect: both signals ignored (their order
    // between two signals is not guaranteed), the interrupt ignored, closing stdin set no exit going.
    const handled = (): unknown[] =>
      r
        .records()
        .filter((x) => x["t"] === "signal" || x["t"] === "ignored" || x["t"] === "stdin_end")
        .map((x) => (x["t"] === "signal" ? { signal: x["sig"], ignored: x["ignored"] } : x))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    await expect.poll(handled, { timeout: 5000 }).toEqual([
      { signal: "SIGINT", ignored: true },
      { signal: "SIGTERM", ignored: true },
      { t: "ignored", request: "interrupt" },
      { t: "stdin_end", exiting: false },
    ]);
    expect(isAlive(pid)).toBe(true);
    expect(r.messages().some((m) => m["type"] === "control_response" || m["type"] === "result")).toBe(false);

    r.child.kill("SIGKILL");
    expect(await r.exited).toEqual({ code: null, signal: "SIGKILL" });
    // The grandchild shares the process group; afterEach kills the group.
    expect(isAlive(grandchild!["pid"] as number)).toBe(true);
  });
});
