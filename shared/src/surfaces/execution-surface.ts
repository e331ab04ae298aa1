/**
 * Execution surfaces (seed 000): where a backend places the CLI process, orthogonal to the
 * execution mode (who runs the backend). A surface turns the command an adapter built into the
 * command the backend spawns locally, and explains the failures that are its own. The backend's
 * supervisor, line framing and adapter are the same on every surface.
 *
 * Extension point: a new surface (e.g. a guest bridge into a microVM) is one module that exports an
 * `ExecutionSurfaceDriver` and is added to `SURFACES` in surface-registry.ts; no run, session or
 * lane code changes.
 */
import type { z } from "zod";
import type { AsmError } from "../errors/asm-error.js";
import type { CliExit } from "../process/cli-process.js";
import type { CommandSpec } from "../providers/provider-adapter.js";

/** A run's surface as its options name it (kind plus that kind's own options, validated). */
export interface SurfaceSpec {
  kind: string;
  options: Record<string, unknown>;
}

export const LOCAL_SURFACE: SurfaceSpec = Object.freeze({ kind: "local_subprocess", options: Object.freeze({}) }) as SurfaceSpec;

/** What the operator of the host that runs the backend configured for surfaces. */
export interface SurfaceOperatorConfig {
  ssh?: {
    /** Private key the SSH client authenticates with. */
    identityFile?: string;
    /** known_hosts file the host keys are checked against (checking is always on). */
    knownHostsFile?: string;
    /** Default login user when a run names none. */
    user?: string;
    /** Keepalive probe interval and count: a silent connection is lost after interval × count. */
    aliveIntervalS: number;
    aliveCountMax: number;
    /** TCP connect bound. */
    connectTimeoutS: number;
  };
}

/** The process the backend spawns on its own host to run a CLI on a surface. */
export interface PlacedCommand {
  command: string;
  args: string[];
  /** Directory the local process starts in. */
  cwd: string;
  env: Record<string, string>;
  /** Lines written to stdin before the adapter's own (e.g. the remote environment). */
  preamble: string[];
}

/** What a surface needs to place one command. */
export interface PlaceRequest {
  command: CommandSpec;
  /** The CLI as the run names it (cli_path, the operator's path, or the binary name). */
  cli: string;
  /** The real root every local cwd is confined to (local surfaces only). */
  confinedTo?: () => string;
  operator: SurfaceOperatorConfig;
}

export interface ExecutionSurfaceDriver {
  readonly kind: string;
  /** Schema of this surface's `options` (strict: an unknown field is an error). */
  readonly optionsSchema: z.ZodType<Record<string, unknown>>;
  /**
   * Whether the CLI runs on the backend's own host: its cwd and CLI path are then checked and
   * resolved there; else they name places on the surface's host.
   */
  readonly onBackendHost: boolean;
  /** The target shown in metadata ("" when there is none), from validated options. */
  target(options: Record<string, unknown>, operator: SurfaceOperatorConfig): string;
  place(request: PlaceRequest, options: Record<string, unknown>): PlacedCommand;
  /**
   * The surface's own failure, from how the placed process ended (connection, authentication, host
   * key, a CLI missing on the host); undefined when the CLI itself ended.
   */
  classifyExit(exit: CliExit, context: { provider: string; cli: string; cwd: string; target: string }): AsmError | undefined;
}
