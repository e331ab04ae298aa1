import { spawn, type ChildProcess } from "node:child_process";
import { describe, expect, it } from "vitest";
import { REAPER_SCRIPT } from "../../shared/src/process/orphan-reaper.js";

/** A process in a group of its own (its pid is its pgid) that only a kill ends. */
function groupLeader(): ChildProcess {
  return spawn("/bin/sleep", ["1000"], { detached: true, stdio: "ignore" });
}

const exited = (p: ChildProcess): Promise<NodeJS.Signals | null> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve(p.signalCode) : new Promise((resolve) => p.once("exit", (_code, signal) => resolve(signal)));

describe("orphan reaper", () => {
  it("kills the groups still listed when its pipe closes, and only those; it needs no command but sh's builtins", async () => {
    const kept = groupLeader();
    const removed = groupLeader();
    const other = groupLeader();
    try {
      // PATH leads nowhere: a reaper that forked sed or printf per line would lose its list.
      const reaper = spawn("/bin/sh", ["-c", REAPER_SCRIPT], { env: { PATH: "/nonexistent" }, stdio: ["pipe", "ignore", "ignore"] });
      const done = new Promise<number | null>((resolve) => reaper.once("exit", (code) => resolve(code)));
      reaper.stdin!.end([`+${removed.pid}`, `+${kept.pid}`, `+${other.pid}`, `-${removed.pid}`, `-${other.pid}`, "-424242", ""].join("\n"));
      expect(await done).toBe(0);
      expect(await exited(kept)).toBe("SIGKILL");
      expect(removed.exitCode === null && removed.signalCode === null).toBe(true);
      expect(other.exitCode === null && other.signalCode === null).toBe(true);
    } finally {
      for (const p of [kept, removed, other]) p.kill("SIGKILL");
    }
  });
});
