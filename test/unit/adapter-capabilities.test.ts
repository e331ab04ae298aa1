import { describe, expect, it } from "vitest";
import { adapterFor, mergeRunOptions, PROVIDERS, providerCatalog } from "@asm/shared";

describe("each adapter's behaviour matches its declared core-lane capabilities", () => {
  for (const provider of PROVIDERS) {
    it(provider, () => {
      const adapter = adapterFor(provider);
      const caps = providerCatalog(provider).coreCapabilities;
      expect(adapter.provider).toBe(provider);
      expect(adapter.supportsApprovals).toBe(caps.includes("approvals"));
      const interactive = mergeRunOptions({}, { permissionMode: "default" });
      expect(adapter.canStayWarm(interactive)).toBe(caps.includes("warm_process"));
      expect(caps).toContain("interrupt");
      // Continuation, per mode: the command changes when the session has a provider session to
      // continue exactly where the adapter says it can resume, and the declared capability says where.
      for (const [mode, oneShot] of [["bypass", true], ["default", false]] as const) {
        const settings = mergeRunOptions({}, { permissionMode: mode });
        const spec = (resume: string | undefined) => ({ prompt: "p", settings, resumeProviderSessionId: resume, baseEnv: {}, defaultCwd: "/tmp" });
        const continues = JSON.stringify(adapter.buildCommand(spec("prev-session"), "/bin/cli")) !== JSON.stringify(adapter.buildCommand(spec(undefined), "/bin/cli"));
        expect(adapter.canResume(settings), `${provider} ${mode}`).toBe(continues);
        expect(continues, `${provider} ${mode}`).toBe(caps.includes("resume") || (oneShot && caps.includes("resume_one_shot")));
      }
    });
  }
});
