import { spawn } from "node:child_process";
import type { Logger } from "../logging/logger.js";
import { observeProcessGroups } from "./process-groups.js";

/**
 * The reaper keeps the list of live CLI process groups on its stdin ("+pgid" / "-pgid" lines).
 * When that pipe closes, its owner is gone, however it died (even SIGKILL, where no cleanup code
 * of ours runs), and every group still listed is killed. POSIX sh, builtins only: a line costs no
 * fork (the list is edited by parameter expansion), so thousands of runs cost nothing here.
 */
export const REAPER_SCRIPT = `
live=" "
while IFS= read -r line; do
  case "$line" in
    +[0-9]*) live="$live\${line#+} " ;;
    -[0-9]*)
      p="\${line#-}"
      case "$live" in *" $p "*) live="\${live%% $p *} \${live#* $p }" ;; esac ;;
  esac
done
for p in $live; do kill -s KILL -- "-$p" 2>/dev/null; done
`;

export interface OrphanReaper {
  pid: number;
  /** Stops observing and lets the reaper exit (the groups it still lists are killed). */
  stop(): void;
}

/**
 * Starts a small detached `sh` that outlives this process just long enough to kill the process
 * groups of the CLIs it leaves behind if it dies without cleaning up. Used by the executor agent
 * and the controller, so a SIGKILLed process never leaves CLIs running.
 */
export function startOrphanReaper(logger: Logger): OrphanReaper {
  const child = spawn("/bin/sh", ["-c", REAPER_SCRIPT], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
  child.on("error", (err) => logger.warn({ err }, "orphan reaper could not start; CLIs may outlive a crash of this process"));
  child.unref();
  const stdin = child.stdin!;
  stdin.on("error", () => undefined);
  (stdin as unknown as { unref?: () => void }).unref?.();
  const send = (line: string): void => {
    if (!stdin.destroyed) stdin.write(`${line}\n`);
  };
  const unobserve = observeProcessGroups({ added: (pgid) => send(`+${pgid}`), removed: (pgid) => send(`-${pgid}`) });
  return {
    pid: child.pid ?? 0,
    stop: () => {
      unobserve();
      stdin.end();
    },
  };
}
