import { z } from "zod";
import { guardedCommand } from "../execution/cwd-guard.js";
import type { ExecutionSurfaceDriver } from "./execution-surface.js";

/** `local_subprocess`: the CLI is a child process of the backend (through the cwd guard when confined). */
export const localSubprocessSurface: ExecutionSurfaceDriver = {
  kind: "local_subprocess",
  optionsSchema: z.strictObject({}),
  onBackendHost: true,
  target: () => "",
  place(request) {
    const { command } = request;
    const root = request.confinedTo?.();
    const spawned = root !== undefined ? { ...guardedCommand(command.cwd, command.command, command.args), cwd: root } : { command: command.command, args: command.args, cwd: command.cwd };
    return { ...spawned, env: command.env, preamble: [] };
  },
  classifyExit: () => undefined,
};
