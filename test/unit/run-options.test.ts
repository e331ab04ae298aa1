import { describe, expect, it } from "vitest";
import {
  AsmError,
  DriverOptsSchema,
  RunOptionsSchema,
  SessionOptionsSchema,
  fieldPath,
  mergeRunOptions,
  parseOrThrow,
  type RunOptionsInput,
} from "@asm/shared";
import { toGrpcStatus } from "@asm/shared";

function configError(fn: () => unknown): AsmError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AsmError);
    return e as AsmError;
  }
  throw new Error("expected a config_invalid AsmError");
}

function issuesOf(err: AsmError): { field: string; message: string }[] {
  return (err.details as { issues: { field: string; message: string }[] }).issues;
}

describe("mergeRunOptions", () => {
  it("applies the documented defaults when nothing is set", () => {
    expect(mergeRunOptions({}, {})).toEqual({
      lane: "auto",
      executionMode: "local",
      permissionMode: "default",
      model: undefined,
      cwd: undefined,
      env: {},
      cliPath: undefined,
      queueTimeoutMs: undefined,
      streamTimeoutMs: 60_000,
      runDeadlineMs: 600_000,
      approvalTimeoutMs: 120_000,
      driverOpts: {},
      providerOptions: {},
      interactiveApprovals: undefined,
    });
  });

  it("per-run overrides replace session defaults key by key; unset keys inherit", () => {
    const defaults: RunOptionsInput = {
      lane: "core",
      permissionMode: "plan",
      model: "session-model",
      cwd: "/session",
      cliPath: "/bin/claude",
      queueTimeoutMs: 5_000,
      streamTimeoutMs: 1_000,
      runDeadlineMs: 2_000,
      approvalTimeoutMs: 3_000,
      interactiveApprovals: true,
    };
    const s = mergeRunOptions(defaults, { model: "run-model", streamTimeoutMs: 9_000, interactiveApprovals: false, permissionMode: "auto" });
    expect(s.model).toBe("run-model");
    expect(s.streamTimeoutMs).toBe(9_000);
    expect(s.interactiveApprovals).toBe(false);
    expect(s.permissionMode).toBe("auto");
    // inherited
    expect(s.lane).toBe("core");
    expect(s.cwd).toBe("/session");
    expect(s.cliPath).toBe("/bin/claude");
    expect(s.queueTimeoutMs).toBe(5_000);
    expect(s.runDeadlineMs).toBe(2_000);
    expect(s.approvalTimeoutMs).toBe(3_000);
    expect(s.executionMode).toBe("local");
  });

  it("an override alone works without session defaults", () => {
    const s = mergeRunOptions({}, { lane: "sdk", executionMode: "remote_node", runDeadlineMs: 42 });
    expect(s.lane).toBe("sdk");
    expect(s.executionMode).toBe("remote_node");
    expect(s.runDeadlineMs).toBe(42);
    expect(s.streamTimeoutMs).toBe(60_000);
  });

  it("env, driverOpts and providerOptions merge key by key", () => {
    const s = mergeRunOptions(
      { env: { A: "1", B: "2" }, driverOpts: { remote_node: "exec@host", remote_rpc_timeout_ms: 100 }, providerOptions: { max_turns: 3, system_prompt: "s" } },
      { env: { B: "20", C: "30" }, driverOpts: { remote_rpc_timeout_ms: 200, remote_cwd: "/w" }, providerOptions: { max_turns: 9 } },
    );
    expect(s.env).toEqual({ A: "1", B: "20", C: "30" });
    expect(s.driverOpts).toEqual({ remote_node: "exec@host", remote_rpc_timeout_ms: 200, remote_cwd: "/w" });
    expect(s.providerOptions).toEqual({ max_turns: 9, system_prompt: "s" });
  });

  it("does not mutate its inputs", () => {
    const defaults: RunOptionsInput = { env: { A: "1" }, providerOptions: { x: 1 } };
    const overrides: RunOptionsInput = { env: { B: "2" } };
    const s = mergeRunOptions(defaults, overrides);
    s.env.Z = "z";
    expect(defaults).toEqual({ env: { A: "1" }, providerOptions: { x: 1 } });
    expect(overrides).toEqual({ env: { B: "2" } });
  });
});

describe("RunOptionsSchema / SessionOptionsSchema", () => {
  it("accepts a full valid option set", () => {
    const input: RunOptionsInput = {
      lane: "auto",
      executionMode: "local",
      permissionMode: "bypass",
      model: "m",
      cwd: "/abs",
      env: { MY_VAR: "x", _under: "y" },
      cliPath: "/bin/claude",
      queueTimeoutMs: 1,
      streamTimeoutMs: 86_400_000,
      runDeadlineMs: 10,
      approvalTimeoutMs: 10,
      driverOpts: { remote_node: "n@h" },
      providerOptions: { anything: { nested: true } },
      interactiveApprovals: false,
    };
    expect(RunOptionsSchema.parse(input)).toEqual(input);
  });

  it.each([
    [{ streamTimeoutMs: 0 }],
    [{ runDeadlineMs: 86_400_001 }],
    [{ approvalTimeoutMs: 1.5 }],
    [{ cwd: "relative/path" }],
    [{ env: { "1BAD": "x" } }],
    [{ env: { "WITH-DASH": "x" } }],
    [{ permissionMode: "yolo" }],
    [{ lane: "turbo" }],
    [{ model: "   " }],
    [{ unknownKey: 1 }],
  ])("rejects %j", (input) => {
    expect(RunOptionsSchema.safeParse(input).success).toBe(false);
  });

  it("session options require defaults and bound the queue limits", () => {
    expect(SessionOptionsSchema.safeParse({ defaults: {}, maxConcurrentRuns: 1, maxQueuedRuns: 0 }).success).toBe(true);
    expect(SessionOptionsSchema.safeParse({ maxConcurrentRuns: 1 }).success).toBe(false);
    expect(SessionOptionsSchema.safeParse({ defaults: {}, maxConcurrentRuns: 0 }).success).toBe(false);
    expect(SessionOptionsSchema.safeParse({ defaults: {}, maxQueuedRuns: -1 }).success).toBe(false);
  });
});

describe("DriverOptsSchema", () => {
  it("keeps unknown forward-compatible keys", () => {
    const parsed = DriverOptsSchema.parse({ remote_node: "exec@host", remote_future_knob: 7, another: { deep: "x" } });
    expect(parsed).toEqual({ remote_node: "exec@host", remote_future_knob: 7, another: { deep: "x" } });
  });

  it("trims and validates the known keys", () => {
    expect(DriverOptsSchema.parse({ remote_node: "  exec@host  " }).remote_node).toBe("exec@host");
    expect(DriverOptsSchema.safeParse({ remote_bootstrap_mode: "ensure_started" }).success).toBe(true);
    expect(DriverOptsSchema.safeParse({ remote_bootstrap_mode: "whenever" }).success).toBe(false);
    expect(DriverOptsSchema.safeParse({ remote_connect_timeout_ms: 0 }).success).toBe(false);
    expect(DriverOptsSchema.safeParse({ remote_node: "   " }).success).toBe(false);
  });

  it("known keys are kept through RunOptionsSchema too", () => {
    expect(RunOptionsSchema.parse({ driverOpts: { remote_cwd: "/w", later_option: true } }).driverOpts).toEqual({ remote_cwd: "/w", later_option: true });
  });
});

describe("fieldPath", () => {
  it.each([
    ["options.defaults", ["streamTimeoutMs"], "options.defaults.stream_timeout_ms"],
    ["options", ["approvalTimeoutMs"], "options.approval_timeout_ms"],
    ["options", ["env", "myVar"], "options.env.myVar"],
    ["options", ["providerOptions", "maxTurns"], "options.provider_options.maxTurns"],
    ["options", ["driverOpts", "remoteNodeX"], "options.driver_opts.remoteNodeX"],
    ["options", ["providerOptions", "someList", 0, "innerKey"], "options.provider_options.someList[0].innerKey"],
    ["options", ["defaults", "executionMode"], "options.defaults.execution_mode"],
    ["", ["maxQueuedRuns"], "max_queued_runs"],
    ["options", [], "options"],
    ["options.provider_options", ["maxTurns"], "options.provider_options.maxTurns"],
    ["options.defaults.env", ["lowerCase"], "options.defaults.env.lowerCase"],
  ] as const)("%s + %j → %s", (prefix, path, expected) => {
    expect(fieldPath(prefix, path)).toBe(expected);
  });
});

describe("parseOrThrow", () => {
  it("returns the parsed value on success", () => {
    expect(parseOrThrow(RunOptionsSchema, { model: "  m  " }, "options")).toEqual({ model: "m" });
  });

  it("throws config_invalid whose field is the snake_case path with the prefix", () => {
    const err = configError(() => parseOrThrow(RunOptionsSchema, { streamTimeoutMs: 0 }, "options.defaults"));
    expect(err.kind).toBe("config_invalid");
    expect(err.domain).toBe("config");
    expect(err.field).toBe("options.defaults.stream_timeout_ms");
    expect(err.reasonCode).toBe("invalid_option");
    // The field is the error's own; the message does not repeat it (the status text leads with it).
    expect(err.message).not.toContain("stream_timeout_ms");
    expect(err.message).toBe(issuesOf(err)[0]!.message);
    expect(toGrpcStatus(err).details).toBe(`config_invalid: options.defaults.stream_timeout_ms: ${err.message}`);
    expect(issuesOf(err)).toHaveLength(1);
  });

  it("details list every issue; field is the first", () => {
    const err = configError(() =>
      parseOrThrow(
        RunOptionsSchema,
        { streamTimeoutMs: 0, cwd: "rel", env: { "1BAD": "x" }, driverOpts: { remote_connect_timeout_ms: -1 }, bogus: 1 },
        "options.defaults",
      ),
    );
    const fields = issuesOf(err).map((i) => i.field);
    expect(fields.sort()).toEqual(
      [
        "options.defaults.stream_timeout_ms",
        "options.defaults.cwd",
        "options.defaults.env.1BAD",
        "options.defaults.driver_opts.remote_connect_timeout_ms",
        "options.defaults.bogus",
      ].sort(),
    );
    expect(err.field).toBe(issuesOf(err)[0]!.field);
    const [first, ...others] = issuesOf(err);
    // The first issue's field is the error's own, named once by the status text; the others in the message.
    expect(err.message.startsWith(first!.message)).toBe(true);
    expect(err.message).not.toContain(first!.field);
    for (const issue of others) {
      expect(issue.message).not.toBe("");
      expect(err.message).toContain(`${issue.field}: ${issue.message}`);
    }
  });

  it("keys inside env / provider_options / driver_opts are kept verbatim", () => {
    const env = configError(() => parseOrThrow(RunOptionsSchema, { env: { myVar: 5 } }, "options"));
    expect(env.field).toBe("options.env.myVar");
    const driver = configError(() => parseOrThrow(RunOptionsSchema, { driverOpts: { remote_connect_timeout_ms: "soon" } }, "options"));
    expect(driver.field).toBe("options.driver_opts.remote_connect_timeout_ms");
  });

  it("names unrecognized keys", () => {
    const err = configError(() => parseOrThrow(SessionOptionsSchema, { defaults: {}, surprise: true }, "options"));
    expect(err.field).toBe("options.surprise");
  });

  it("session options nest the defaults path", () => {
    const err = configError(() => parseOrThrow(SessionOptionsSchema, { defaults: { permissionMode: "yolo" }, maxQueuedRuns: -1 }, "options"));
    expect(issuesOf(err).map((i) => i.field).sort()).toEqual(["options.defaults.permission_mode", "options.max_queued_runs"]);
  });
});
