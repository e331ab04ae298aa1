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
async function acp(open: (send: (o: object) => void, sid?: string) => void, onLine: (j: any, send: (o: object) => void) => boolean) {
  const p = spawn(h.cliPath, ["--acp", "--skip-trust", "-m", "gemini-2.5-flash"], { ...base, stdio: ["pipe", "pipe", "pipe"] });
  const send = (o: object) => p.stdin.write(JSON.stringify(o) + "\n");
  createInterface({ input: p.stdout }).on("line", (line) => { const j = JSON.parse(line); if (j.method === "session/update") return; if (onLine(j, send)) p.stdin.end(); });
  open(send);
  await new Promise((r) => p.on("close", r));
}
const init = (send: (o: object) => void) => send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: 1, clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false } } });
let sid = "";
await acp(init, (j, send) => {
  if (j.id === 1) send({ jsonrpc: "2.0", id: 2, method: "authenticate", params: { methodId: "gemini-api-key" } });
  if (j.id === 2) send({ jsonrpc: "2.0", id: 3, method: "session/new", params: { cwd: work, mcpServers: [] } });
  if (j.id === 3) { sid = j.result.sessionId; send({ jsonrpc: "2.0", id: 4, method: "session/prompt", params: { sessionId: sid, prompt: [{ type: "text", text: "remember PAPAYA-7 [[reply:text:noted]]" }] } }); }
  return j.id === 4;
});
console.log("first sid", sid);
await acp(init, (j, send) => {
  if (j.id === 1) send({ jsonrpc: "2.0", id: 2, method: "authenticate", params: { methodId: "gemini-api-key" } });
  if (j.id === 2) send({ jsonrpc: "2.0", id: 3, method: "session/load", params: { sessionId: sid, cwd: work, mcpServers: [] } });
  if (j.id === 3) { console.log("load:", JSON.stringify(j).slice(0, 200)); send({ jsonrpc: "2.0", id: 4, method: "session/prompt", params: { sessionId: sid, prompt: [{ type: "text", text: "what did I say? [[reply:echo-history]]" }] } }); }
  if (j.id === 4) console.log("prompt:", JSON.stringify(j).slice(0, 200));
  return j.id === 4;
});
console.log("model saw:", JSON.stringify(mock.turns.map((t) => t.view.userTexts)));
await mock.stop();
