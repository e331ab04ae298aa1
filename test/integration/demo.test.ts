/**
 * `make demo`, as a new user runs it: the real Claude Code CLI against the offline scripted model,
 * locally and through an executor over mTLS; the approval and the tool's effect are shown, and
 * nothing is left running.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { testRunMarker } from "../helpers/test-run.js";

const ROOT = join(import.meta.dirname, "..", "..");

describe("make demo", () => {
  it("exits 0 and shows the approval and the tool's effect, locally and on the executor", async () => {
    const env: Record<string, string> = { ...testRunMarker(), PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" };
    const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test", "demo", "run-demo.ts")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.on("exit", (c) => resolve({ code: c, out, err }));
    });
    expect(code, `${out}\n${err}`).toBe(0);
    expect(out).toMatch(/against the offline scripted model/);
    expect(out.match(/allow\? \[y\/N\] y/g)).toHaveLength(2);
    expect(out).toMatch(/the tool's effect: .*hello\.txt contains "hello from asm"/);
    expect(out).toMatch(/the tool's effect on the executor: .*remote\.txt contains "hello from the sandbox"/);
    expect(out).toMatch(/history: create a file/);
    expect(out).toMatch(/CLI processes left: 0/);
  }, 120_000);
});
