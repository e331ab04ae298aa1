import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AsmError, isAlwaysRefusedEnvKey, isEnvKeyAllowed, loadPolicyFile, mergeRunOptions, parsePolicy, RunPolicy, type Principal } from "@asm/shared";

const who = (id: string, roles: string[] = []): Principal => ({ id, roles, source: "token" });
const refusal = (f: () => unknown): AsmError => {
  try {
    f();
  } catch (err) {
    return AsmError.from(err);
  }
  throw new Error("expected a refusal");
};

describe("the policy file", () => {
  it("lists every issue of an invalid file at once", () => {
    const err = refusal(() => parsePolicy({ client_env: ["BAD-NAME"], client_cli_paths: ["relative/cli"], roles: { user: { permission_modes: ["yolo"], max_live_sessions: -1 } }, surprise: 1 }));
    expect(err.reasonCode).toBe("policy_invalid");
    const issues = err.details?.issues as string[];
    expect(issues.length).toBeGreaterThanOrEqual(5);
    expect(issues.join("\n")).toMatch(/client_env\.0/);
    expect(issues.join("\n")).toMatch(/client_cli_paths\.0: must be an absolute path/);
    expect(issues.join("\n")).toMatch(/roles\.user\.permission_modes\.0/);
    expect(issues.join("\n")).toMatch(/roles\.user\.max_live_sessions/);
    expect(issues.join("\n")).toMatch(/surprise/);
  });

  it("a file that is not JSON, or missing, is policy_invalid naming the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-policy-unit-"));
    writeFileSync(join(dir, "p.json"), "{ not json");
    expect(refusal(() => loadPolicyFile(join(dir, "p.json"))).message).toContain(join(dir, "p.json"));
    expect(refusal(() => loadPolicyFile(join(dir, "missing.json"))).reasonCode).toBe("policy_invalid");
  });
});

describe("roles and rules", () => {
  const policy = new RunPolicy(parsePolicy({ roles: { ops: { permission_modes: ["bypass"], max_concurrent_runs: 50 } }, principals: { carol: ["ops"] }, default_roles: ["user"] }));
  const settings = (o: Parameters<typeof mergeRunOptions>[1]) => mergeRunOptions({}, o);

  it("a principal with no roles gets default_roles; the policy's principals add roles", () => {
    expect(policy.withRoles(who("dave")).roles).toEqual(["user"]);
    expect(policy.withRoles(who("carol")).roles).toEqual(["ops"]);
    expect(policy.withRoles(who("erin", ["admin"])).roles).toEqual(["admin"]);
  });

  it("the rules of several roles are their union; quotas the largest", () => {
    const both = policy.withRoles(who("carol", ["user"]));
    expect(() => policy.checkRun(both, settings({ permissionMode: "bypass" }), { provider: "claude", prefix: "o", side: "controller" })).not.toThrow();
    expect(() => policy.checkRun(both, settings({ permissionMode: "plan" }), { provider: "claude", prefix: "o", side: "controller" })).not.toThrow();
    expect(() => policy.checkConcurrentRuns(both, 49)).not.toThrow();
    expect(refusal(() => policy.checkConcurrentRuns(both, 50)).reasonCode).toBe("quota_exceeded");
    // A user alone: no bypass, 16 runs.
    expect(refusal(() => policy.checkRun(policy.withRoles(who("dave")), settings({ permissionMode: "bypass" }), { provider: "claude", prefix: "o", side: "controller" })).details?.rule).toBe("permission_modes");
    expect(refusal(() => policy.checkConcurrentRuns(policy.withRoles(who("dave")), 16)).details?.rule).toBe("max_concurrent_runs");
  });

  it("a role the policy does not know gives nothing", () => {
    const ghost = who("gina", ["no-such-role"]);
    expect(refusal(() => policy.checkRun(ghost, settings({}), { provider: "claude", prefix: "o", side: "controller" })).details?.rule).toBe("providers");
    expect(refusal(() => policy.checkLiveSessions(ghost, 0)).reasonCode).toBe("quota_exceeded");
  });
});

describe("env keys", () => {
  it("loader, interpreter and shell variables are refused whatever the allow-list", () => {
    for (const key of ["LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "NODE_OPTIONS", "NODE_PATH", "BASH_ENV", "ENV", "BASH_FUNC_x%%", "PYTHONPATH", "PYTHONSTARTUP", "PERL5OPT", "RUBYOPT", "GIT_SSH_COMMAND", "PATH", "HOME", "SHELL", "ASM_CLAUDE_CLI_PATH", "JAVA_TOOL_OPTIONS", "GLIBC_TUNABLES"]) {
      expect(isAlwaysRefusedEnvKey(key), key).toBe(true);
    }
    for (const key of ["ANTHROPIC_MODEL", "MY_APP_MODE", "FAKE_CLI_RECORD"]) expect(isAlwaysRefusedEnvKey(key), key).toBe(false);
  });

  it("allow-list entries are exact names or prefixes ending in *", () => {
    expect(isEnvKeyAllowed("MY_APP_X", ["MY_APP_*"])).toBe(true);
    expect(isEnvKeyAllowed("MY_APPX", ["MY_APP_*"])).toBe(false);
    expect(isEnvKeyAllowed("A", ["A"])).toBe(true);
    expect(isEnvKeyAllowed("AB", ["A"])).toBe(false);
  });
});
