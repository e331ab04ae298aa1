import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildFakeCli } from "./fake-cli/build-fake-cli.js";

declare module "vitest" {
  export interface ProvidedContext {
    fakeClaudePath: string;
    /** The executor agent bundled into one file (as shipped to sandboxes). */
    executorBundlePath: string;
    /** The compiled controller entry point (controller/dist/main.js), for tests that kill a controller process. */
    controllerMainPath: string;
  }
}

const ROOT = join(import.meta.dirname, "..");
/**
 * Each test run builds its fake CLI and executor bundle into its own directory, so the leak check
 * below recognises this run's processes by their command line and never touches another run's.
 */
const RUN_DIR = join(ROOT, ".build", "test-runs", `run-${process.pid}-${Date.now()}`);

export async function setup(project: TestProject): Promise<void> {
  // Test workers inherit it; test/helpers/test-run.ts marks every process a test starts with it.
  process.env.ASM_TEST_RUN_DIR = RUN_DIR;
  project.provide("fakeClaudePath", await buildFakeCli(join(RUN_DIR, "fake-cli")));
  const bundle = join(RUN_DIR, "executor", "asm-executor.cjs");
  execFileSync(process.execPath, [join(ROOT, "executor-agent", "build-bundle.mjs"), "--outfile", bundle], { stdio: ["ignore", "ignore", "inherit"] });
  project.provide("executorBundlePath", bundle);
  execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b", join(ROOT, "controller")], { stdio: ["ignore", "inherit", "inherit"] });
  project.provide("controllerMainPath", join(ROOT, "controller", "dist", "main.js"));
}

/**
 * Every process the tests started must be gone by now: fake CLIs and their grandchildren, the real
 * claude / codex (and its native binary) / gemini processes and their tool shells, controllers and
 * executors started as processes.
 */
export function teardown(): void {
  const leaked = leakedTestProcesses();
  if (leaked.length > 0) {
    for (const p of leaked) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    // vitest does not fail the run on a teardown error, so the exit code is set here as well.
    process.exitCode = 1;
    throw new Error(`test processes left alive after the suite: ${leaked.map((p) => `${p.pid} ${p.cmd}`).join("; ")}`);
  }
  rmSync(RUN_DIR, { recursive: true, force: true });
}

export function leakedTestProcesses(): { pid: number; cmd: string }[] {
  const leaked: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (!cmd) continue; // zombie or kernel thread
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8");
      const vars = environ.split("\0");
      const marked = vars.includes(`ASM_TEST_CHILD=${RUN_DIR}`) || vars.some((v) => v.startsWith(`ASM_FAKE_CLI_CHILD=${RUN_DIR}`));
      if (cmd.includes(RUN_DIR) || marked) leaked.push({ pid: Number(entry), cmd });
    } catch {
      // the process ended while we looked
    }
  }
  return leaked;
}
