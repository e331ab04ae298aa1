/**
 * A run stopped while its CLI runs a tool leaves nothing behind, on the sdk lane as on the core
 * lane: not the CLI, not the tool's shell, not the tool (`timeout … tail -f /dev/null`, which never ends by itself), whichever of them the SDK
 * started and whatever session the CLI put the tool in. Processes are found by the test run's
 * marker in their environment, which every CLI and tool inherits.
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lane, type RunOptions } from "@asm/shared";
import { call, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { createSession } from "../helpers/sessions.js";
import { eventually, type TestController } from "../helpers/test-controller.js";
import { claudeHarness, codexHarness, geminiHarness, type ProviderHarness } from "./provider-harness.js";
import { startProviderController, type ProviderController } from "./provider-controller.js";

/** Pids of live processes whose command line contains `needle` and that carry this test run's marker. */
function markedProcesses(needle: string): number[] {
  const marker = `ASM_TEST_CHILD=${process.env.ASM_TEST_RUN_DIR ?? ""}`;
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ");
      if (!cmd.includes(needle)) continue;
      if (readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(marker)) found.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return found;
}

describe.each([claudeHarness, codexHarness, geminiHarness])("$name on the sdk lane: interrupted during a tool", (h: ProviderHarness) => {
  let t: TestController;
  let work: string;
  let n = 0;

  let setup: ProviderController | undefined;

  beforeAll(async () => {
    setup = await startProviderController(h, { sdkDiscovery: "installed" });
    ({ t, work } = setup);
  });

  afterAll(async () => {
    await setup?.stop();
  });

  it("the CLI, the tool's shell and the tool are all gone after the interrupt", async () => {
    // A tool that runs until it is killed; the mode lets it run without asking.
    const seconds = 40 + ++n;
    const defaults: Partial<RunOptions> = { cwd: work, model: h.model, providerOptions: h.providerOptions, lane: Lane.LANE_SDK, permissionMode: h.autoAllowMode };
    const sessionId = await createSession(t, h.provider, defaults);
    const s = t.client.streamRun({ sessionId, prompt: `run a long tool [[reply:tool:timeout ${seconds} tail -f /dev/null]]`, runId: `${h.name}-tool-${n}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const all = collectEvents(s);
    const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    expect(started.metadata?.lane).toBe("sdk");
    // The tool is running once its process exists.
    const seen: string[] = [];
    s.on("data", (m: { event?: { payload?: { $case?: string; value?: unknown } } }) => seen.push(JSON.stringify(m.event?.payload).slice(0, 300)));
    expect(await eventually(() => markedProcesses(`tail -f /dev/null`).length > 0, 15_000), seen.join("\n")).toBe(true);
    await call(t.client, "interrupt", { runId: started.runId });
    const events = await all;
    expect(events.at(-1)!.payload?.$case).toBe("error");
    const pid = started.payload?.$case === "runStarted" ? started.payload.value.pid : 0;
    expect(await eventually(() => markedProcesses(`timeout ${seconds}`).length === 0 && markedProcesses(`tail -f /dev/null`).length === 0 && markedProcesses(h.cliPath).length === 0, 5000), `left: ${markedProcesses(`tail -f /dev/null`)} ${markedProcesses(h.cliPath)}`).toBe(true);
    expect(pid).toBeGreaterThan(0);
  });
});
