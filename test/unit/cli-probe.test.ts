import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adapterFor, findProviderCli as findCli } from "@asm/shared";
import { probeProviderClis } from "../../executor-agent/src/providers/cli-probe.js";

const findProviderCli = (provider: "claude" | "gemini" | "amp", env: NodeJS.ProcessEnv) => findCli(adapterFor(provider), env);

let dir: string;
let bin: string;
let other: string;
const MARKER = `asm-cli-probe-${process.pid}-${Date.now()}`;

function liveMarkedProcesses(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(MARKER)) found.push(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

function script(path: string, body: string, mode = 0o755): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
  return path;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "asm-cli-probe-"));
  bin = join(dir, "bin");
  other = join(dir, "other");
  mkdirSync(bin);
  mkdirSync(other);
  mkdirSync(join(bin, "amp")); // a directory named like the binary is not a CLI
  script(join(bin, "claude"), 'echo "  2.1.0 (Claude Code)  "; echo second line');
  script(join(bin, "codex"), "echo codex-cli 0.1 >&2; exit 3");
  script(join(other, "gemini"), "echo should not be used", 0o644); // not executable
  script(join(bin, "gemini"), "echo 0.61.0");
  // Hangs with a grandchild holding stdout open: the probe must give up and kill the whole group.
  script(join(other, "slow-agent"), `"${process.execPath}" -e "setTimeout(() => {}, 30000)" ${MARKER} & wait`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("provider CLI probe", () => {
  it("finds CLIs on PATH, skipping non-executables and directories, and prefers the env override", () => {
    const env = { PATH: `${other}:${bin}` };
    expect(findProviderCli("claude", env)).toBe(join(bin, "claude"));
    expect(findProviderCli("gemini", env)).toBe(join(bin, "gemini"));
    expect(findProviderCli("amp", env)).toBeUndefined();
    expect(findProviderCli("claude", { ...env, ASM_CLAUDE_CLI_PATH: join(bin, "gemini") })).toBe(join(bin, "gemini"));
    // An override is the only place looked at.
    expect(findProviderCli("claude", { ...env, ASM_CLAUDE_CLI_PATH: join(dir, "nope") })).toBeUndefined();
  });

  it("reports each provider with its path and the first line of --version, in the order asked", async () => {
    const env = { PATH: `${other}:${bin}` };
    expect(await probeProviderClis(env, ["claude", "codex", "gemini", "amp"], 10_000)).toEqual([
      { provider: "claude", found: true, path: join(bin, "claude"), version: "2.1.0 (Claude Code)" },
      { provider: "codex", found: true, path: join(bin, "codex"), version: "" },
      { provider: "gemini", found: true, path: join(bin, "gemini"), version: "0.61.0" },
      { provider: "amp", found: false, path: "", version: "" },
    ]);
  });

  it("gives up on a CLI that does not answer in time and kills its whole process group", async () => {
    const env = { PATH: bin, ASM_CURSOR_CLI_PATH: join(other, "slow-agent") };
    expect(await probeProviderClis(env, ["cursor"], 300)).toEqual([{ provider: "cursor", found: true, path: join(other, "slow-agent"), version: "" }]);
    await expect.poll(liveMarkedProcesses).toEqual([]);
  });
});
