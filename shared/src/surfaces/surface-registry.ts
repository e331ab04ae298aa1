import { AsmError } from "../errors/asm-error.js";
import { parseOrThrow } from "../options/parse-options.js";
import type { CliExit } from "../process/cli-process.js";
import { LOCAL_SURFACE, type ExecutionSurfaceDriver, type SurfaceOperatorConfig, type SurfaceSpec } from "./execution-surface.js";
import { localSubprocessSurface } from "./local-subprocess-surface.js";
import { sshExecSurface } from "./ssh-exec-surface.js";

/** Every surface this build knows. A new surface is one module added here (see execution-surface.ts). */
const SURFACES: ReadonlyMap<string, ExecutionSurfaceDriver> = new Map([localSubprocessSurface, sshExecSurface].map((s) => [s.kind, s]));

export const SURFACE_KINDS: readonly string[] = [...SURFACES.keys()];

/** The driver of a validated surface. */
export function surfaceDriver(spec: SurfaceSpec | undefined): ExecutionSurfaceDriver {
  return SURFACES.get((spec ?? LOCAL_SURFACE).kind) ?? localSubprocessSurface;
}

/**
 * The surface's own failure, from how its process ended (ssh: unreachable, authentication, host
 * key, CLI missing, connection lost); undefined on the backend's own host or when the CLI itself
 * ended. One place for every backend (core lane, sdk lane).
 */
export function surfaceExitError(
  spec: SurfaceSpec | undefined,
  exit: Pick<CliExit, "code" | "signal" | "killedByUs" | "stderrTail">,
  context: { provider: string; cli: string; cwd: string },
  operator: SurfaceOperatorConfig,
): AsmError | undefined {
  const driver = surfaceDriver(spec);
  if (driver.onBackendHost) return undefined;
  const full: CliExit = { classification: "exit_nonzero", ...exit };
  return driver.classifyExit(full, { ...context, target: driver.target(spec?.options ?? {}, operator) });
}

/** Checks a surface as a client gave it: a known kind, and that kind's options; throws config_invalid naming the field. */
export function parseSurface(raw: { kind?: string; options?: Record<string, unknown> } | undefined, field: string): SurfaceSpec | undefined {
  if (raw === undefined) return undefined;
  const kind = (raw.kind ?? "").trim() || LOCAL_SURFACE.kind;
  const driver = SURFACES.get(kind);
  if (!driver) {
    throw new AsmError({ reasonCode: "invalid_option", field: `${field}.kind`, message: `unknown execution surface ${JSON.stringify(kind)}; expected one of ${SURFACE_KINDS.join(", ")}` });
  }
  return { kind, options: parseOrThrow(driver.optionsSchema, raw.options ?? {}, `${field}.options`) };
}
