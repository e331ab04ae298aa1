import { spawn } from "node:child_process";
import { adapterFor, findProviderCli, type ProviderCli, type ProviderName } from "@asm/shared";

/**
 * Looks for each provider's CLI and asks it for its version (`<cli> --version`, no shell, bounded
 * by `timeoutMs`), all in parallel. A CLI that is found but fails to answer is reported with an
 * empty version.
 */
export async function probeProviderClis(env: NodeJS.ProcessEnv, providers: readonly ProviderName[], timeoutMs: number): Promise<ProviderCli[]> {
  return Promise.all(
    providers.map(async (provider): Promise<ProviderCli> => {
      const path = findProviderCli(adapterFor(provider), env);
      if (path === undefined) return { provider, found: false, path: "", version: "" };
      return { provider, found: true, path, version: await cliVersion(path, env, timeoutMs) };
    }),
  );
}

/**
 * First line of `<path> --version`, or "" when the CLI fails, is killed, or does not finish in
 * time. The CLI gets its own process group, killed whole on timeout, so a wrapper script whose
 * child keeps stdout open cannot hold the probe.
 */
function cliVersion(path: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let stdout = "";
    let settled = false;
    const finish = (version: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(version);
    };
    const child = spawn(path, ["--version"], { env, stdio: ["ignore", "pipe", "ignore"], detached: true, windowsHide: true });
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      killGroup();
      finish("");
    }, timeoutMs);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      if (stdout.length < MAX_VERSION_OUTPUT) stdout += chunk;
    });
    child.on("error", () => finish(""));
    child.on("close", (code) => {
      killGroup();
      finish(code === 0 ? (stdout.split("\n", 1)[0] ?? "").trim() : "");
    });
  });
}

const MAX_VERSION_OUTPUT = 64 * 1024;
