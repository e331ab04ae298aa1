import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startMockModel } from "./test/mock-models/index.js";
import { geminiHarness as h } from "./test/real-cli/provider-harness.js";
import { systemPath } from "./test/helpers/test-controller.js";
const mock = await startMockModel("gemini");
const home = mkdtempSync(join(tmpdir(), "zz-")); const { env } = h.environment(mock, home);
const work = join(home, "work"); mkdirSync(work);
const base = { cwd: work, env: { PATH: systemPath(), ...env } };
// 1. a one-shot run, to get a session id
const p1 = spawn(h.cliPath, ["--output-format", "stream-json", "--skip-trust", "-m", "gemini-2.5-flash"], { ...base, stdio: ["pipe", "pipe", "pipe"] });
let out1 = ""; p1.stdout.on("data", (d) => (out1 += d)); p1.stdin.end("remember PAPAYA-7 [[reply:text:noted]]");
await new Promise((r) => p1.on("close", r));
const sid = JSON.parse(out1.split("\n")[0]!).session_id; console.log("sid", sid);
// 2. ACP with --resume
const p2 = spawn(h.cliPath, ["--acp", "--skip-trust", "-m", "gemini-2.5-flash"], { ...base, stdio: ["pipe", "pipe", "pipe"] });
const rl = createInterface({ input: p2.stdout });
const send = (o: object) => p2.stdin.write(JSON.stringify(o) + "\n");
let step = 0;
rl.on("line", (line) => {
  const j = JSON.parse(line);
  if (j.id === 1) send({ jsonrpc: "2.0", id: 2, method: "authenticate", params: { methodId: "gemini-api-key" } });
  if (j.id === 1) console.log("caps", JSON.stringify(j.result?.agentCapabilities));
  if (j.id === 2) send({ jsonrpc: "2.0", id: 3, method: "session/load", params: { sessionId: sid, cwd: work, mcpServers: [] } });
  if (j.method === "session/update") console.log("update:", JSON.stringify(j.params.update).slice(0, 150));
  if (j.id === 3) { console.log("load:", JSON.stringify(j).slice(0, 300)); send({ jsonrpc: "2.0", id: 4, method: "session/prompt", params: { sessionId: sid, prompt: [{ type: "text", text: "what did I say? [[reply:echo-history]]" }] } }); }
  if (j.id === 4) { console.log("prompt result", JSON.stringify(j.result)); p2.stdin.end(); }
});
send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: 1, clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false } } });
await new Promise((r) => p2.on("close", r));
console.log("model saw:", JSON.stringify(mock.turns.map((t) => t.view.userTexts)));
await mock.stop();
