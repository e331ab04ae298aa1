import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isRacyStderr, TranscriptNormalizer } from "../transcripts/normalize-transcript.js";
import { claudeRecordings } from "../transcripts/claude-scenarios.js";
import { codexRecordings } from "../transcripts/codex-scenarios.js";
import { geminiRecordings } from "../transcripts/gemini-scenarios.js";
import { recordedScenarios } from "../helpers/transcripts.js";

const SCRATCH = "/tmp/asm-transcripts/claude/sj-text";
const normalizer = (): TranscriptNormalizer => new TranscriptNormalizer({ scratch: SCRATCH, port: 43121, repoRoot: "/home/dev/asm", hostname: "build-host-7" });

describe("transcript normalizer", () => {
  it("numbers UUIDs by first appearance, so one id stays one id across lines", () => {
    const n = normalizer();
    const a = "4359777e-a3a0-48d9-b079-d4893e6d70a5";
    const b = "B8037EF4-1E3C-492C-BA38-B092CE2EA930";
    expect(n.line(`{"session_id":"${a}","uuid":"${b}"}`)).toBe('{"session_id":"00000000-0000-4000-8000-000000000001","uuid":"00000000-0000-4000-8000-000000000002"}');
    expect(n.line(`{"session_id":"${a}","request_id":"${b.toLowerCase()}"}`)).toBe('{"session_id":"00000000-0000-4000-8000-000000000001","request_id":"00000000-0000-4000-8000-000000000002"}');
  });

  it("fixes clock readings and durations, and keeps timeouts and other numbers", () => {
    const n = normalizer();
    expect(n.line('{"timestamp":"2026-11-21T05:47:57.164Z","at":"2026-11-21T05:48:03.408441Z"}')).toBe('{"timestamp":"2026-01-01T00:00:00.000Z","at":"2026-01-01T00:00:00.000Z"}');
    expect(n.line('{"duration_ms":98,"ttft_stream_ms":225,"durationMs":7,"duration_api_ms":3}')).toBe('{"duration_ms":100,"ttft_stream_ms":100,"durationMs":100,"duration_api_ms":100}');
    expect(n.line('{"createdAt":1795240083,"recencyAt":1796157331,"pid":10912}')).toBe('{"createdAt":1767225600,"recencyAt":1767225600,"pid":4242}');
    expect(n.line('{"timeoutMs":120000,"input_tokens":20,"total_cost_usd":0.00014}')).toBe('{"timeoutMs":120000,"input_tokens":20,"total_cost_usd":0.00014}');
  });

  it("keeps epoch milliseconds inside ids distinct and stable", () => {
    const n = normalizer();
    expect(n.line('"run_shell_command-1795240083421" "run_shell_command-1795240083999" "x-1795240083421"')).toBe(
      '"run_shell_command-1767225600001" "run_shell_command-1767225600002" "x-1767225600001"',
    );
  });

  it("replaces the scratch folder (also as claude's project folder name), the repository, the mock's port and ANSI colours", () => {
    const n = normalizer();
    expect(n.line(`{"cwd":"${SCRATCH}/work","project":"-tmp-asm-transcripts-claude-sj-text-work"}`)).toBe('{"cwd":"/tmp/asm-transcript/work","project":"-tmp-asm-transcript-work"}');
    expect(n.line("at main (file:///home/dev/asm/node_modules/x.js:1:2)")).toBe("at main (file://<repo>/node_modules/x.js:1:2)");
    expect(n.line('{"url":"http://127.0.0.1:43121/v1/responses"}')).toBe('{"url":"http://127.0.0.1:<mock-port>/v1/responses"}');
    expect(n.line("\u001b[2mWARN\u001b[0m: hello")).toBe("WARN: hello");
  });

  it("fixes the CLIs' own volatile strings", () => {
    const n = normalizer();
    expect(n.line('"/tmp/cc-socks/10912.sock"')).toBe('"/tmp/cc-socks/<pid>.sock"');
    expect(n.line("sessions/2026/12/01/rollout-2026-12-01T20-35-31-x.jsonl")).toBe("sessions/2026/01/01/rollout-2026-01-01T00-00-00-x.jsonl");
    expect(n.line("done: Chunk ID: 2f6cb8\\nWall time")).toBe("done: Chunk ID: 000000\\nWall time");
    expect(n.line('{"processId":"14768","serverName":"vm"}')).toBe('{"processId":"4242","serverName":"<hostname>"}');
    expect(n.line("uname: build-host-7")).toBe("uname: <hostname>");
    expect(n.line("Process Group PGID: 15712")).toBe("Process Group PGID: 4242");
    expect(n.line("report at /tmp/gemini-client-error-Turn.run-sendMessageStream-2026-12-01T20-37-01-678Z.json")).toBe(
      "report at /tmp/gemini-client-error-Turn.run-sendMessageStream-2026-01-01T00-00-00-000Z.json",
    );
  });

  it("leaves out only the stderr lines that come or not with timing", () => {
    expect(isRacyStderr("[STARTUP] Phase 'cleanup_ops' was started but never ended. Skipping metrics.")).toBe(true);
    expect(isRacyStderr("Ripgrep is not available. Falling back to GrepTool.")).toBe(false);
  });
});

describe("the recorded transcripts", () => {
  const recordings = [claudeRecordings, codexRecordings, geminiRecordings];

  it.each(recordings.map((r) => [r.provider, r] as const))("%s: the folder holds exactly the recorder's scenarios", (_provider, r) => {
    expect(recordedScenarios(r.provider)).toEqual(r.scenarios.map((s) => s.name).sort());
  });

  it.each(recordings.flatMap((r) => r.scenarios.map((s) => [`${r.provider}/${s.name}`] as const)))("%s is normalized: normalizing it again changes nothing", (file) => {
    const text = readFileSync(new URL(`../fixtures/transcripts/${file}.log`, import.meta.url), "utf8");
    const n = new TranscriptNormalizer({ scratch: "/nowhere/scratch", port: 1, repoRoot: "/nowhere/repo", hostname: "no-such-host" });
    const again = text
      .split("\n")
      .map((line) => (line === "" ? line : `${line.slice(0, 2)}${n.line(line.slice(2))}`))
      .join("\n");
    expect(again === text).toBe(true);
  });
});
