import { realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import type { PolicyFile } from "@asm/shared";

/**
 * The operator policy of the suite's controllers and executors: the suite's fake CLI may be named
 * by clients, the fake CLI's and the tests' own variables may be set, runs work anywhere under the
 * temporary directory. Security tests write their own, stricter policies.
 */
export function testPolicy(extra: Partial<PolicyFile> = {}): Partial<PolicyFile> {
  return {
    workspace_root: realpathSync(tmpdir()),
    client_cli_paths: [inject("fakeClaudePath"), "/nonexistent/bin/claude", ...(extra.client_cli_paths ?? [])],
    client_env: ["FAKE_CLI_*", "RUN_VAR", "A", "B", "C", "MY_VAR", "_under", "BENCH_*", ...(extra.client_env ?? [])],
    // Suites whose client is a plain user (auth: mtls / jwt) drive the auto-allowing modes too.
    roles: { user: { permission_modes: ["default", "auto", "bypass", "plan"] } },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "client_cli_paths" && k !== "client_env")),
  };
}

/** Writes a policy file into `dir` and returns its path. */
export function writePolicy(dir: string, policy: Partial<PolicyFile>, name = "policy.json"): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(policy, null, 2));
  return path;
}
