import * as fs from "node:fs";
import * as path from "node:path";

/** The `code` of a Node system error (ENOENT, ESRCH, ...), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolves `command` the way the child would see it (relative paths against `cwd`), or undefined. */
export function resolveCommand(command: string, cwd: string, envPath: string | undefined): string | undefined {
  if (command.length === 0) return undefined;
  if (command.includes("/")) {
    const file = path.resolve(cwd, command);
    return isExecutableFile(file) ? file : undefined;
  }
  if (envPath === undefined) return undefined;
  for (const dir of envPath.split(path.delimiter)) {
    // An empty PATH entry means the current directory (POSIX).
    const file = path.resolve(cwd, dir === "" ? "." : dir, command);
    if (isExecutableFile(file)) return file;
  }
  return undefined;
}
