/**
 * The seed's lane table with the SDK packages really installed and really absent: the controller
 * of this workspace (its optional dependencies installed) and the same built controller in a
 * second install made with `npm ci --omit=optional --omit=dev`, where the packages do not exist.
 * Each row: GetLaneInfo and ResolveLane, then a session and a run with that lane and mode, whose
 * metadata is what ResolveLane said (or the same configuration error). Real claude CLI, real
 * executor for the remote rows, mock model on loopback.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecutionMode, Lane, Provider, type Event, type Observability } from "@asm/shared";
import { startMockModel, type AnyModelMock } from "../mock-models/index.js";
import { startControllerProcess, type ControllerProcess } from "../helpers/controller-process.js";
import { startExecutorProcess, type ExecutorProcess } from "../helpers/executor-process.js";
import { call, callError, collectEvents } from "../helpers/grpc-client.js";
import { createTestPki } from "../helpers/pki.js";
import { FAST_LIVENESS, remoteIdentityEnv } from "../helpers/remote-setup.js";
import { runOptions } from "../helpers/sessions.js";
import { claudeHarness, operatorSetup } from "../real-cli/provider-harness.js";

const ROOT = join(import.meta.dirname, "..", "..");
const SDKS = { claude: "@anthropic-ai/claude-agent-sdk", codex: "@openai/codex-sdk", gemini: "@agentclientprotocol/sdk" } as const;
const PROVIDERS = { claude: Provider.PROVIDER_CLAUDE, codex: Provider.PROVIDER_CODEX, gemini: Provider.PROVIDER_GEMINI } as const;
const LANES = { auto: Lane.LANE_AUTO, core: Lane.LANE_CORE, sdk: Lane.LANE_SDK } as const;
const MODES = { local: ExecutionMode.EXECUTION_MODE_LOCAL, remote_node: ExecutionMode.EXECUTION_MODE_REMOTE_NODE } as const;

type Row = { lane: keyof typeof LANES; mode: keyof typeof MODES };
type Outcome = { preferred: string; lane: string; reason: string; fallback: string } | { error: string };

/** The seed's table (002), for an SDK package that is installed and one that is not. */
const TABLE: Record<"installed" | "absent", Record<string, Outcome>> = {
  installed: {
    "auto/local": { preferred: "sdk", lane: "sdk", reason: "sdk_available", fallback: "" },
    "core/local": { preferred: "core", lane: "core", reason: "explicit_core", fallback: "" },
    "sdk/local": { preferred: "sdk", lane: "sdk", reason: "explicit_sdk", fallback: "" },
    "auto/remote_node": { preferred: "sdk", lane: "core", reason: "sdk_available", fallback: "sdk_remote_unsupported" },
    "core/remote_node": { preferred: "core", lane: "core", reason: "explicit_core", fallback: "" },
    "sdk/remote_node": { error: "sdk_remote_unsupported" },
  },
  absent: {
    "auto/local": { preferred: "core", lane: "core", reason: "sdk_unavailable", fallback: "" },
    "core/local": { preferred: "core", lane: "core", reason: "explicit_core", fallback: "" },
    "sdk/local": { error: "sdk_unavailable" },
    "auto/remote_node": { preferred: "core", lane: "core", reason: "sdk_unavailable", fallback: "" },
    "core/remote_node": { preferred: "core", lane: "core", reason: "explicit_core", fallback: "" },
    "sdk/remote_node": { error: "sdk_unavailable" },
  },
};
const ROWS: Row[] = (["auto", "core", "sdk"] as const).flatMap((lane) => (["local", "remote_node"] as const).map((mode) => ({ lane, mode })));

/**
 * A second install of this workspace's built code with no optional (and no dev) packages: the
 * sources' package files and lock, the compiled dist directories and generated descriptors, then
 * `npm ci --omit=optional --omit=dev` from the local npm cache (the tests run without a network).
 */
function installWithoutOptionals(): string {
  const dir = mkdtempSync(join(tmpdir(), "asm-no-optional-"));
  for (const file of ["package.json", "package-lock.json"]) cpSync(join(ROOT, file), join(dir, file));
  for (const pkg of ["shared", "controller", "executor-agent"]) {
    mkdirSync(join(dir, pkg), { recursive: true });
    cpSync(join(ROOT, pkg, "package.json"), join(dir, pkg, "package.json"));
    if (existsSync(join(ROOT, pkg, "dist"))) cpSync(join(ROOT, pkg, "dist"), join(dir, pkg, "dist"), { recursive: true });
  }
  cpSync(join(ROOT, "shared", "gen"), join(dir, "shared", "gen"), { recursive: true });
  execFileSync("npm", ["ci", "--omit=optional", "--omit=dev", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  return dir;
}

function installedVersion(pkg: string): string {
  return (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
}

describe("the lane table with the sdk packages really installed and really absent", () => {
  let mock: AnyModelMock;
  let executor: ExecutorProcess;
  let bare: string;
  const controllers: Partial<Record<"installed" | "absent", ControllerProcess>> = {};
  let work: string;
  let n = 0;

  beforeAll(async () => {
    bare = installWithoutOptionals();
    mock = await startMockModel("anthropic");
    const e = claudeHarness.environment(mock);
    work = join(e.home, "work");
    mkdirSync(work, { recursive: true });
    const operator = operatorSetup(claudeHarness, e.env);
    const pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
    executor = await startExecutorProcess({ pki, workspace: e.home, env: operator.hostEnv, args: operator.passEnv.length ? ["--pass-env", operator.passEnv.join(",")] : [] });
    const env = { ...operator.hostEnv, ASM_PASS_ENV: operator.passEnv.join(","), ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `sandbox=${executor.address}@executor-a`, ASM_KILL_GRACE_MS: "1000" };
    controllers.installed = await startControllerProcess(env, e.home);
    // The bare install skipped install scripts, so it has no compiled SQLite: it keeps its runs in memory.
    controllers.absent = await startControllerProcess({ ...env, ASM_STORE: "memory" }, e.home, join(bare, "controller", "dist", "main.js"));
  }, 180_000);

  afterAll(async () => {
    await controllers.installed?.kill("SIGTERM");
    await controllers.absent?.kill("SIGTERM");
    await executor?.stop();
    await mock?.stop();
    if (bare) rmSync(bare, { recursive: true, force: true });
  });

  it("the second install really has none of the sdk packages, and this one has all three", () => {
    for (const pkg of Object.values(SDKS)) {
      expect(existsSync(join(bare, "node_modules", pkg)), pkg).toBe(false);
      expect(existsSync(join(ROOT, "node_modules", pkg, "package.json")), pkg).toBe(true);
    }
  });

  for (const install of ["installed", "absent"] as const) {
    it(`${install}: GetProviderInfo reports each sdk, its version and the lanes`, async () => {
      for (const [name, provider] of Object.entries(PROVIDERS) as [keyof typeof SDKS, Provider][]) {
        const info = await call(controllers[install]!.client, "getProviderInfo", { provider });
        expect(info, name).toMatchObject(
          install === "installed"
            ? { sdkRuntime: SDKS[name], sdkAvailable: true, sdkVersion: installedVersion(SDKS[name]), availableLanes: ["core", "sdk"] }
            : { sdkRuntime: SDKS[name], sdkAvailable: false, sdkVersion: "", availableLanes: ["core"], sdkCapabilities: [] },
        );
      }
    });

    describe.each(ROWS)(`${install}: lane $lane, $mode`, (row) => {
      const expected = TABLE[install][`${row.lane}/${row.mode}`]!;
      const client = () => controllers[install]!.client;
      const options = () =>
        runOptions({ lane: LANES[row.lane], executionMode: MODES[row.mode], cwd: row.mode === "local" ? work : undefined, driverOpts: row.mode === "remote_node" ? { remote_node: "sandbox", remote_cwd: "work" } : undefined });

      it("ResolveLane and GetLaneInfo give the seed's answer", async () => {
        const request = { provider: Provider.PROVIDER_CLAUDE, lane: LANES[row.lane], executionMode: MODES[row.mode], executionSurface: undefined };
        if ("error" in expected) {
          const refused = await callError(client(), "resolveLane", request);
          expect({ code: refused.code, kind: refused.error.kind, reasonCode: refused.error.reasonCode }).toEqual({ code: 3, kind: "config_invalid", reasonCode: expected.error });
          return;
        }
        const o = (await call(client(), "resolveLane", request)).observability!;
        expect({ preferred: o.preferredLane, lane: o.lane, reason: o.laneReason, fallback: o.laneFallbackReason }).toEqual(expected);
        expect(o).toMatchObject({ requestedLane: row.lane, backend: o.lane, executionMode: row.mode, sdkAvailable: install === "installed" && row.lane !== "core" });
        const info = await call(client(), "getLaneInfo", { provider: Provider.PROVIDER_CLAUDE, lane: LANES[row.lane], executionSurface: undefined });
        expect({ preferred: info.preferredLane, reason: info.laneReason }).toEqual({ preferred: expected.preferred, reason: expected.reason });
      });

      it("a session and a run with that lane do what ResolveLane said", async () => {
        const request = { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: options() } };
        if ("error" in expected) {
          const refused = await callError(client(), "createSession", request);
          expect({ code: refused.code, reasonCode: refused.error.reasonCode, field: refused.error.field }).toEqual({ code: 3, reasonCode: expected.error, field: "options.defaults.lane" });
          return;
        }
        const sessionId = (await call(client(), "createSession", request)).session!.sessionId;
        const resolved = (await call(client(), "resolveLane", { provider: Provider.PROVIDER_CLAUDE, lane: LANES[row.lane], executionMode: MODES[row.mode], executionSurface: undefined })).observability!;
        const s = client().streamRun({ sessionId, prompt: "say hello [[reply:text:Hello from the table]]", runId: `table-${install}-${++n}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
        const events: Event[] = await collectEvents(s);
        expect(events.at(-1)!.payload?.$case).toBe("result");
        const m = events[0]!.metadata as Observability;
        const pick = (x: Observability) => ({ requestedLane: x.requestedLane, preferredLane: x.preferredLane, lane: x.lane, backend: x.backend, executionMode: x.executionMode, laneReason: x.laneReason, laneFallbackReason: x.laneFallbackReason, sdkAvailable: x.sdkAvailable, sdkVersion: x.sdkVersion, capabilities: x.capabilities });
        expect(pick(m)).toEqual(pick(resolved));
        await call(client(), "closeSession", { sessionId });
      });
    });
  }
});
