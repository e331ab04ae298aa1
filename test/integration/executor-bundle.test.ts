import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXECUTOR_OPTION_LIST } from "../../executor-agent/src/config/executor-config.js";

const run = promisify(execFile);
const BUILD_SCRIPT = join(import.meta.dirname, "..", "..", "executor-agent", "build-bundle.mjs");

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node asm-executor.cjs ...` in `cwd` with only a system PATH: no node_modules anywhere near. */
async function runBundle(cwd: string, args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["asm-executor.cjs", ...args], { cwd, env: { PATH: "/usr/bin:/bin" } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("executor bundle", () => {
  let buildDir: string;
  let runDir: string;

  beforeAll(async () => {
    buildDir = mkdtempSync(join(tmpdir(), "asm-bundle-build-"));
    runDir = mkdtempSync(join(tmpdir(), "asm-bundle-run-"));
    await run(process.execPath, [BUILD_SCRIPT, "--outfile", join(buildDir, "asm-executor.cjs")]);
    copyFileSync(join(buildDir, "asm-executor.cjs"), join(runDir, "asm-executor.cjs"));
    expect(readdirSync(runDir)).toEqual(["asm-executor.cjs"]);
  }, 60_000);

  afterAll(() => {
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
  });

  it("runs alone with plain node: --help exits 0 and documents every flag and env variable", async () => {
    const { code, stdout } = await runBundle(runDir, ["--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: asm-executor/);
    for (const opt of EXECUTOR_OPTION_LIST) {
      expect(stdout).toContain(opt.flag);
      expect(stdout).toContain(opt.env);
    }
    expect(stdout).toContain("ASM_CLAUDE_CLI_PATH");
  });

  it("exits 2 without configuration, listing every missing required option", async () => {
    const { code, stdout, stderr } = await runBundle(runDir, []);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^invalid executor configuration:/);
    for (const opt of EXECUTOR_OPTION_LIST.filter((o) => o.required)) expect(stderr).toContain(`${opt.flag} / ${opt.env}: required`);
    expect(EXECUTOR_OPTION_LIST.filter((o) => o.required).map((o) => o.flag)).toEqual(["--tls-ca", "--tls-cert", "--tls-key", "--allow-client"]);
  });
});
