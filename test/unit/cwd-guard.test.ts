import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CWD_GUARD_REFUSED, guardedCommand } from "../../shared/src/execution/cwd-guard.js";
import { CliProcess } from "../../shared/src/process/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function runGuarded(root: string, cwd: string): Promise<{ lines: string[]; code: number | null; stderr: string }> {
  const { command, args } = guardedCommand(cwd, "/bin/pwd", ["-P"]);
  const p = CliProcess.spawn({ command, args, cwd: root, env: { PATH: "/usr/bin:/bin" }, stdin: "ignore" });
  const lines: string[] = [];
  for await (const out of p.output()) if ("line" in out && out.stream === "stdout") lines.push(out.line);
  const exit = await p.exited;
  return { lines, code: exit.code, stderr: exit.stderrTail };
}

describe("cwd guard", () => {
  it("starts the command in the checked directory", async () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), "asm-guard-")));
    dirs.push(root);
    mkdirSync(join(root, "a", "x"), { recursive: true });
    expect(await runGuarded(root, join(root, "a", "x"))).toMatchObject({ lines: [join(root, "a", "x")], code: 0 });
  });

  it("refuses, without running the command, a directory swapped for a symlink after its check", async () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), "asm-guard-")));
    const outside = realpathSync(mkdtempSync(join(tmpdir(), "asm-guard-outside-")));
    dirs.push(root, outside);
    mkdirSync(join(root, "a", "x"), { recursive: true });
    mkdirSync(join(outside, "x"));
    const checked = join(root, "a", "x");
    // After the check: `a` is now a symlink to a directory outside that also has x/.
    renameSync(join(root, "a"), join(root, "a.aside"));
    symlinkSync(outside, join(root, "a"));
    const res = await runGuarded(root, checked);
    expect(res.code).toBe(CWD_GUARD_REFUSED);
    expect(res.lines).toEqual([]);
    expect(res.stderr).toContain("asm-cwd-guard:");
  });
});
