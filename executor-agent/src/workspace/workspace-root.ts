import { randomBytes } from "node:crypto";
import { mkdirSync, realpathSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve, sep } from "node:path";
import { AsmError } from "@asm/shared";

/** The workspace root as the executor reports it in its handshake. */
export interface WorkspaceState {
  /** Real path of the root (the resolved path when it could not be created). */
  root: string;
  writable: boolean;
  /** Why the workspace is not usable; absent when writable. */
  error?: string;
}

const REMOTE_CWD_FIELD = "driver_opts.remote_cwd";

/** Creates the workspace root if needed and checks that a file can be written in it. */
export function prepareWorkspace(root: string): WorkspaceState {
  const wanted = resolve(root);
  let real: string;
  try {
    mkdirSync(wanted, { recursive: true });
    real = realpathSync(wanted);
  } catch (err) {
    return { root: wanted, writable: false, error: `cannot create workspace ${wanted}: ${describe(err)}` };
  }
  if (!statSync(real).isDirectory()) return { root: real, writable: false, error: `workspace ${real} is not a directory` };
  const probe = join(real, `.asm-probe-${process.pid}-${randomBytes(6).toString("hex")}`);
  try {
    writeFileSync(probe, "", { flag: "wx" });
    unlinkSync(probe);
  } catch (err) {
    return { root: real, writable: false, error: `workspace ${real} is not writable: ${describe(err)}` };
  }
  return { root: real, writable: true };
}

/**
 * The real directory a run's CLI starts in: the root when `remoteCwd` is empty, a relative path
 * resolved against the root, or an absolute path, which must lie inside the root. Symlinks are
 * resolved before the check, so a link pointing out of the workspace is refused like `..`.
 */
export function confineCwd(root: string, remoteCwd: string | undefined): string {
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch (err) {
    throw notFound(`workspace root ${root} does not exist: ${describe(err)}`);
  }
  if (remoteCwd === undefined || remoteCwd === "") return realRoot;
  if (remoteCwd.includes("\0")) throw outside(remoteCwd);

  const wanted = isAbsolute(remoteCwd) ? resolve(remoteCwd) : resolve(realRoot, remoteCwd);
  const { real, exists } = realpathOfNearest(wanted);
  if (!isInside(realRoot, real)) throw outside(remoteCwd);
  if (!exists) throw notFound(`remote_cwd ${remoteCwd} does not exist in the workspace`);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(real).isDirectory();
  } catch (err) {
    // Gone since it was resolved (moved or replaced meanwhile).
    throw notFound(`remote_cwd ${remoteCwd} cannot be resolved: ${describe(err)}`);
  }
  if (!isDirectory) throw notFound(`remote_cwd ${remoteCwd} is not a directory`);
  return real;
}

/**
 * The real path of `path`, or, when it does not exist, the real path of its nearest existing
 * ancestor with the missing rest appended, so that a missing path below a symlink pointing out is
 * still judged by where it would lead.
 */
function realpathOfNearest(path: string): { real: string; exists: boolean } {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      return { real: join(realpathSync(current), ...missing), exists: missing.length === 0 };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw notFound(`remote_cwd ${path} cannot be resolved: ${describe(err)}`);
      const parent = dirname(current);
      if (parent === current) return { real: path, exists: false };
      missing.unshift(basename(current));
      current = parent;
    }
  }
}

function isInside(realRoot: string, real: string): boolean {
  if (real === realRoot) return true;
  const prefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  return real.startsWith(prefix);
}

function outside(remoteCwd: string): AsmError {
  return new AsmError({
    reasonCode: "remote_cwd_outside_workspace",
    field: REMOTE_CWD_FIELD,
    message: `remote_cwd ${JSON.stringify(remoteCwd)} resolves outside the executor's workspace`,
    details: { rule: "workspace_root" },
  });
}

function notFound(message: string): AsmError {
  return AsmError.configInvalid(REMOTE_CWD_FIELD, message, "remote_cwd_not_found");
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}
