import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildFakeCli } from "./fake-cli/build-fake-cli.js";

declare module "vitest" {
  export interface ProvidedContext {
    fakeClaudePath: string;
    /** The executor agent bundled into one file (as shipped to sandboxes). */
    executorBundlePath: string;
  }
}

const ROOT = join(import.meta.dirname, "..");
const BUILD_DIR = join(ROOT, ".build", "fake-cli");

export async function setup(project: TestProject): Promise<void> {
  project.provide("fakeClaudePath", await buildFakeCli(BUILD_DIR));
  const bundle = join(ROOT, ".build", "executor", "asm-executor.cjs");
  execFileSync(process.execPath, [join(ROOT, "executor-agent", "build-bundle.mjs"), "--outfile", bundle], { stdio: ["ignore", "ignore", "inherit"] });
  project.provide("executorBundlePath", bundle);
}

/** Every process the tests started (fake CLIs and their grandchildren) must be gone by now. */
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
}

export function leakedTestProcesses(): { pid: number; cmd: string }[] {
  const leaked: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (!cmd) continue; // zombie or kernel thread
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8");
      if (cmd.includes("fake-claude") || cmd.includes("asm-executor") || environ.split("\0").includes("ASM_FAKE_CLI_CHILD=1")) leaked.push({ pid: Number(entry), cmd });
    } catch {
      // the process ended while we looked
    }
  }
  return leaked;
}
