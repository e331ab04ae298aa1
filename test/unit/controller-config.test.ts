import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { AsmError } from "@asm/shared";
import { ControllerConfigSchema, loadControllerConfig } from "../../controller/src/config/controller-config.js";

const base = { ASM_INSECURE_LOOPBACK: "1" };

function configError(env: Record<string, string>): AsmError {
  try {
    loadControllerConfig({ ...base, ...env });
  } catch (err) {
    return AsmError.from(err);
  }
  throw new Error("the configuration was accepted");
}

describe("controller configuration: executor links", () => {
  it("defaults: heartbeat 2 s / 10 s, keepalive 30 s / 10 s, 16 MiB messages, a 1 MiB flow-control window", () => {
    const c = loadControllerConfig(base);
    expect(c.ASM_REMOTE_HEARTBEAT_INTERVAL_MS).toBe(2000);
    expect(c.ASM_REMOTE_HEARTBEAT_TIMEOUT_MS).toBe(10_000);
    expect(c.ASM_REMOTE_KEEPALIVE_TIME_MS).toBe(30_000);
    expect(c.ASM_REMOTE_KEEPALIVE_TIMEOUT_MS).toBe(10_000);
    expect(c.ASM_REMOTE_MAX_MESSAGE_BYTES).toBe(16 * 1024 * 1024);
    expect(c.ASM_REMOTE_FLOW_CONTROL_WINDOW_BYTES).toBe(1024 * 1024);
    expect(loadControllerConfig({ ...base, ASM_REMOTE_FLOW_CONTROL_WINDOW_BYTES: "4194304" }).ASM_REMOTE_FLOW_CONTROL_WINDOW_BYTES).toBe(4 * 1024 * 1024);
  });

  it.each(["1000", "65534", "abc", "2147483648"])("a flow-control window of %s is config_invalid, naming the variable", (value) => {
    const err = configError({ ASM_REMOTE_FLOW_CONTROL_WINDOW_BYTES: value });
    expect(err.kind).toBe("config_invalid");
    expect(err.message).toContain("ASM_REMOTE_FLOW_CONTROL_WINDOW_BYTES");
  });

  it("a heartbeat timeout not longer than the interval is refused", () => {
    const err = configError({ ASM_REMOTE_HEARTBEAT_INTERVAL_MS: "5000", ASM_REMOTE_HEARTBEAT_TIMEOUT_MS: "5000" });
    expect(err.message).toContain("ASM_REMOTE_HEARTBEAT_TIMEOUT_MS: must be longer than ASM_REMOTE_HEARTBEAT_INTERVAL_MS");
  });
});

describe("the README documents every controller setting", () => {
  it("names each variable of the configuration schema", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const missing = Object.keys(ControllerConfigSchema.shape).filter((key) => !readme.includes(`\`${key}\``));
    expect(missing).toEqual([]);
  });
});
