import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { AsmError } from "../../shared/src/errors/asm-error.js";
import {
  PROVIDERS,
  discoverSdkPackage,
  isProviderName,
  laneInfo,
  parseProviderName,
  providerCatalog,
  providerInfo,
  resolveLane,
  sdkAvailable,
  type ProviderName,
  type SdkDiscovery,
} from "../../shared/src/lanes/index.js";

const yes: SdkDiscovery = () => true;
const no: SdkDiscovery = () => false;

const SDK_PACKAGES: Record<ProviderName, string | null> = {
  claude: "@anthropic-ai/claude-agent-sdk",
  codex: "@openai/codex-sdk",
  gemini: "@agentclientprotocol/sdk",
  // Amp has no sdk lane: its inference is server-side, so an Amp SDK backend cannot run offline.
  amp: null,
  cursor: null,
};
const WITH_SDK = PROVIDERS.filter((p) => SDK_PACKAGES[p] !== null);

function catchError(fn: () => unknown): AsmError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AsmError);
    return e as AsmError;
  }
  throw new Error("expected an AsmError");
}

describe("provider catalog", () => {
  it("lists the five providers with their display names and sdk packages", () => {
    expect([...PROVIDERS]).toEqual(["claude", "codex", "gemini", "amp", "cursor"]);
    expect(PROVIDERS.map((p) => providerCatalog(p).displayName)).toEqual([
      "Claude Code",
      "Codex CLI",
      "Gemini CLI",
      "Amp CLI",
      "Cursor Agent CLI",
    ]);
    for (const p of PROVIDERS) expect(providerCatalog(p).sdkPackage).toBe(SDK_PACKAGES[p]);
  });

  it("has the core capabilities per provider", () => {
    expect(providerCatalog("claude").coreCapabilities).toEqual([
      "approvals", "interrupt", "resume", "streaming", "tools", "thinking", "cost", "warm_process", "ssh_exec",
    ]);
    expect(providerCatalog("codex").coreCapabilities).toEqual([
      "approvals", "interrupt", "resume", "streaming", "tools", "structured_output", "warm_process", "profiles", "ssh_exec",
    ]);
    expect(providerCatalog("gemini").coreCapabilities).toEqual(["approvals", "interrupt", "resume_one_shot", "streaming", "tools", "warm_process", "ssh_exec"]);
    expect(providerCatalog("amp").coreCapabilities).toEqual(["interrupt", "resume", "streaming", "tools", "thinking", "ssh_exec"]);
    expect(providerCatalog("cursor").coreCapabilities).toEqual(["interrupt", "resume", "streaming", "tools", "ssh_exec"]);
  });

  it("sdk capabilities follow what each SDK can do", () => {
    expect(providerCatalog("codex").sdkCapabilities).not.toContain("approvals");
    expect(providerCatalog("claude").sdkCapabilities).toContain("approvals");
    expect(providerCatalog("gemini").sdkCapabilities).toContain("approvals");
    expect(providerCatalog("cursor").sdkCapabilities).toEqual([]);
    for (const p of PROVIDERS) expect(providerCatalog(p).sdkCapabilities).not.toContain("warm_process");
  });

  it("isProviderName is a strict guard", () => {
    for (const p of PROVIDERS) expect(isProviderName(p)).toBe(true);
    expect(isProviderName("Claude")).toBe(false);
    expect(isProviderName("shell")).toBe(false);
    expect(isProviderName(42)).toBe(false);
  });

  it("parseProviderName normalizes case and the codex_exec alias", () => {
    expect(parseProviderName(" Claude ")).toBe("claude");
    expect(parseProviderName("codex_exec")).toBe("codex");
  });
});

describe("providerInfo", () => {
  it.each(WITH_SDK)("%s with its sdk installed", (p) => {
    const discovery = vi.fn<SdkDiscovery>(() => true);
    const info = providerInfo(p, discovery);
    expect(discovery).toHaveBeenCalledWith(p, SDK_PACKAGES[p]);
    expect(info).toEqual({
      provider: p,
      displayName: providerCatalog(p).displayName,
      sdkRuntime: SDK_PACKAGES[p],
      sdkVersion: "",
      sdkAvailable: true,
      availableLanes: ["core", "sdk"],
      defaultLane: "auto",
      coreCapabilities: [...providerCatalog(p).coreCapabilities],
      sdkCapabilities: [...providerCatalog(p).sdkCapabilities],
    });
  });

  it.each(PROVIDERS)("%s without its sdk", (p) => {
    const info = providerInfo(p, no);
    expect(info.sdkAvailable).toBe(false);
    expect(info.availableLanes).toEqual(["core"]);
    expect(info.sdkCapabilities).toEqual([]);
    expect(info.coreCapabilities).toEqual([...providerCatalog(p).coreCapabilities]);
    expect(info.defaultLane).toBe("auto");
    expect(info.sdkRuntime).toBe(SDK_PACKAGES[p] ?? "");
  });

  it.each(["cursor", "amp"] as const)("%s has no sdk lane: discovery is not asked and sdk is never available", (p) => {
    const discovery = vi.fn<SdkDiscovery>(() => true);
    const info = providerInfo(p, discovery);
    expect(discovery).not.toHaveBeenCalled();
    expect(info.sdkAvailable).toBe(false);
    expect(info.availableLanes).toEqual(["core"]);
    expect(info.sdkRuntime).toBe("");
    expect(sdkAvailable(p, discovery)).toBe(false);
  });

  it("unknown provider is config_invalid on field provider", () => {
    const err = catchError(() => providerInfo("shell", yes));
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("provider");
    expect(err.message).toContain("shell");
  });
});

describe("laneInfo", () => {
  describe.each(WITH_SDK)("%s", (p) => {
    const pkg = SDK_PACKAGES[p]!;
    const cat = providerCatalog(p);

    it("auto + sdk available -> sdk / sdk_available", () => {
      expect(laneInfo(p, "auto", yes)).toEqual({
        provider: p,
        requestedLane: "auto",
        preferredLane: "sdk",
        laneReason: "sdk_available",
        sdkAvailable: true,
        availableLanes: ["core", "sdk"],
        capabilities: [...cat.sdkCapabilities],
        sdkRuntime: pkg,
        sdkVersion: "",
      });
    });

    it("auto + sdk unavailable -> core / sdk_unavailable", () => {
      expect(laneInfo(p, "auto", no)).toEqual({
        provider: p,
        requestedLane: "auto",
        preferredLane: "core",
        laneReason: "sdk_unavailable",
        sdkAvailable: false,
        availableLanes: ["core"],
        capabilities: [...cat.coreCapabilities],
        sdkRuntime: pkg,
        sdkVersion: "",
      });
    });

    it("core -> core / explicit_core without calling discovery", () => {
      const discovery = vi.fn<SdkDiscovery>(() => true);
      expect(laneInfo(p, "core", discovery)).toEqual({
        provider: p,
        requestedLane: "core",
        preferredLane: "core",
        laneReason: "explicit_core",
        sdkAvailable: false,
        availableLanes: ["core"],
        capabilities: [...cat.coreCapabilities],
        sdkRuntime: pkg,
        sdkVersion: "",
      });
      expect(discovery).not.toHaveBeenCalled();
    });

    it("sdk + available -> sdk / explicit_sdk", () => {
      const info = laneInfo(p, "sdk", yes);
      expect(info.preferredLane).toBe("sdk");
      expect(info.laneReason).toBe("explicit_sdk");
      expect(info.sdkAvailable).toBe(true);
      expect(info.availableLanes).toEqual(["core", "sdk"]);
      expect(info.capabilities).toEqual([...cat.sdkCapabilities]);
    });

    it("sdk + unavailable -> config_invalid sdk_unavailable, no fallback", () => {
      const err = catchError(() => laneInfo(p, "sdk", no));
      expect(err.kind).toBe("config_invalid");
      expect(err.reasonCode).toBe("sdk_unavailable");
      expect(err.field).toBe("lane");
      expect(err.provider).toBe(p);
      expect(err.message).toBe(`sdk lane requested for ${p} but ${pkg} is not installed`);
    });
  });

  describe("cursor (no sdk lane)", () => {
    it("auto -> core / sdk_unavailable even if discovery would say yes", () => {
      const discovery = vi.fn<SdkDiscovery>(() => true);
      const info = laneInfo("cursor", "auto", discovery);
      expect(info.preferredLane).toBe("core");
      expect(info.laneReason).toBe("sdk_unavailable");
      expect(info.sdkAvailable).toBe(false);
      expect(discovery).not.toHaveBeenCalled();
    });

    it("core -> explicit_core", () => {
      expect(laneInfo("cursor", "core", yes).laneReason).toBe("explicit_core");
    });

    it("sdk -> config_invalid sdk_unavailable", () => {
      const err = catchError(() => laneInfo("cursor", "sdk", yes));
      expect(err.kind).toBe("config_invalid");
      expect(err.reasonCode).toBe("sdk_unavailable");
      expect(err.field).toBe("lane");
      expect(err.message).toContain("cursor");
    });
  });

  it("the exact error message for claude", () => {
    expect(() => laneInfo("claude", "sdk", no)).toThrow(
      "sdk lane requested for claude but @anthropic-ai/claude-agent-sdk is not installed",
    );
  });

  it("invalid lane is config_invalid on field lane", () => {
    const err = catchError(() => laneInfo("claude", "turbo", yes));
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("lane");
    expect(err.message).toContain("turbo");
  });

  it("unknown provider is config_invalid on field provider", () => {
    const err = catchError(() => laneInfo("nope", "auto", yes));
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("provider");
  });
});

describe("resolveLane", () => {
  it("the seed example: codex auto remote_node with the sdk available", () => {
    const r = resolveLane("codex", "auto", "remote_node", yes);
    expect(r).toMatchObject({
      requestedLane: "auto",
      preferredLane: "sdk",
      lane: "core",
      backend: "core",
      executionMode: "remote_node",
      laneFallbackReason: "sdk_remote_unsupported",
    });
    expect(r).toEqual({
      provider: "codex",
      requestedLane: "auto",
      preferredLane: "sdk",
      lane: "core",
      backend: "core",
      executionMode: "remote_node",
      laneReason: "sdk_available",
      laneFallbackReason: "sdk_remote_unsupported",
      sdkRuntime: "@openai/codex-sdk",
      sdkVersion: "",
      sdkAvailable: true,
      capabilities: [...providerCatalog("codex").coreCapabilities],
    });
  });

  describe.each(PROVIDERS)("%s", (p) => {
    const hasSdk = SDK_PACKAGES[p] !== null;
    const cat = providerCatalog(p);

    it("auto + local + sdk available", () => {
      const r = resolveLane(p, "auto", "local", yes);
      const expected = hasSdk ? "sdk" : "core";
      expect(r.preferredLane).toBe(expected);
      expect(r.lane).toBe(expected);
      expect(r.backend).toBe(expected);
      expect(r.laneReason).toBe(hasSdk ? "sdk_available" : "sdk_unavailable");
      expect(r.laneFallbackReason).toBe("");
      expect(r.executionMode).toBe("local");
      expect(r.capabilities).toEqual([...(hasSdk ? cat.sdkCapabilities : cat.coreCapabilities)]);
    });

    it("auto + remote_node + sdk available", () => {
      const r = resolveLane(p, "auto", "remote_node", yes);
      expect(r.preferredLane).toBe(hasSdk ? "sdk" : "core");
      expect(r.lane).toBe("core");
      expect(r.backend).toBe("core");
      expect(r.laneFallbackReason).toBe(hasSdk ? "sdk_remote_unsupported" : "");
      expect(r.capabilities).toEqual([...cat.coreCapabilities]);
    });

    it.each(["local", "remote_node"] as const)("auto + %s + sdk unavailable -> core, no fallback", (mode) => {
      const r = resolveLane(p, "auto", mode, no);
      expect(r.preferredLane).toBe("core");
      expect(r.lane).toBe("core");
      expect(r.laneReason).toBe("sdk_unavailable");
      expect(r.laneFallbackReason).toBe("");
      expect(r.sdkAvailable).toBe(false);
      expect(r.executionMode).toBe(mode);
    });

    it.each(["local", "remote_node"] as const)("core + %s never calls discovery", (mode) => {
      const discovery = vi.fn<SdkDiscovery>(() => true);
      const r = resolveLane(p, "core", mode, discovery);
      expect(discovery).not.toHaveBeenCalled();
      expect(r).toMatchObject({
        requestedLane: "core",
        preferredLane: "core",
        lane: "core",
        backend: "core",
        laneReason: "explicit_core",
        laneFallbackReason: "",
        sdkAvailable: false,
        executionMode: mode,
      });
    });

    it.each(["local", "remote_node"] as const)("sdk + %s + sdk unavailable -> config_invalid sdk_unavailable", (mode) => {
      const err = catchError(() => resolveLane(p, "sdk", mode, hasSdk ? no : yes));
      expect(err.kind).toBe("config_invalid");
      expect(err.reasonCode).toBe("sdk_unavailable");
      expect(err.field).toBe("lane");
    });

    if (hasSdk) {
      it("sdk + local + available -> sdk / explicit_sdk", () => {
        const r = resolveLane(p, "sdk", "local", yes);
        expect(r).toMatchObject({
          requestedLane: "sdk",
          preferredLane: "sdk",
          lane: "sdk",
          backend: "sdk",
          laneReason: "explicit_sdk",
          laneFallbackReason: "",
          sdkAvailable: true,
          sdkRuntime: SDK_PACKAGES[p],
          sdkVersion: "",
        });
        expect(r.capabilities).toEqual([...cat.sdkCapabilities]);
      });

      it("sdk + remote_node + available -> config_invalid sdk_remote_unsupported", () => {
        const err = catchError(() => resolveLane(p, "sdk", "remote_node", yes));
        expect(err.kind).toBe("config_invalid");
        expect(err.reasonCode).toBe("sdk_remote_unsupported");
        expect(err.field).toBe("lane");
        expect(err.message).toBe("sdk lane is unavailable for remote_node execution");
      });
    }
  });

  it("defaults: lane auto, execution mode local", () => {
    const r = resolveLane("claude", undefined, undefined, no);
    expect(r.requestedLane).toBe("auto");
    expect(r.executionMode).toBe("local");
  });

  it("invalid execution mode is config_invalid on field execution_mode", () => {
    const err = catchError(() => resolveLane("claude", "auto", "mars", yes));
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("execution_mode");
    expect(err.message).toContain("mars");
  });

  it("invalid lane is config_invalid on field lane", () => {
    const err = catchError(() => resolveLane("claude", "", "local", yes));
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("lane");
  });

  it("unknown provider is config_invalid on field provider", () => {
    const err = catchError(() => resolveLane("shell", "auto", "local", yes));
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("provider");
  });

  it("discovery is asked again on every call (nothing cached)", () => {
    let installed = false;
    const discovery = vi.fn<SdkDiscovery>(() => installed);
    expect(resolveLane("claude", "auto", "local", discovery).lane).toBe("core");
    installed = true;
    expect(resolveLane("claude", "auto", "local", discovery).lane).toBe("sdk");
    expect(discovery).toHaveBeenCalledTimes(2);
  });
});

describe("discoverSdkPackage (default discovery)", () => {
  it("finds a package that is installed (zod, a dependency of shared) and reports its version", () => {
    const zodVersion = (JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "node_modules", "zod", "package.json"), "utf8")) as { version: string }).version;
    expect(discoverSdkPackage("claude", "zod")).toEqual({ version: zodVersion });
    expect(providerInfo("claude", () => ({ version: "9.9.9" })).sdkVersion).toBe("9.9.9");
    expect(resolveLane("claude", "auto", "local", () => ({ version: "9.9.9" }))).toMatchObject({ lane: "sdk", sdkVersion: "9.9.9" });
  });

  it("does not find a package that is not installed", () => {
    expect(discoverSdkPackage("claude", "@asm-test/definitely-not-installed-pkg")).toBe(false);
    expect(discoverSdkPackage("claude", "definitely-not-installed-pkg-3f9a")).toBe(false);
  });

  it("rejects paths and sub-paths", () => {
    expect(discoverSdkPackage("claude", "../zod")).toBe(false);
    expect(discoverSdkPackage("claude", "/etc/passwd")).toBe(false);
    expect(discoverSdkPackage("claude", "zod/v4")).toBe(false);
  });

  it("is the default of every function", () => {
    // The default discovery reports the vendor SDKs as installed right now (they are optional
    // dependencies of the controller); every function must agree with discoverSdkPackage.
    for (const p of PROVIDERS) {
      const pkg = SDK_PACKAGES[p];
      const found = pkg === null ? false : discoverSdkPackage(p, pkg);
      const expected = found !== false;
      const version = typeof found === "object" ? found.version : "";
      expect(providerInfo(p)).toMatchObject({ sdkAvailable: expected, sdkVersion: version });
      expect(laneInfo(p)).toMatchObject({ sdkAvailable: expected, sdkVersion: version });
      expect(resolveLane(p)).toMatchObject({ sdkAvailable: expected, sdkVersion: version });
    }
  });
});
