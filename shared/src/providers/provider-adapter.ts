import type { z } from "zod";
import type { EventPayload } from "../events/event-payload.js";
import type { ProviderName } from "../lanes/provider-catalog.js";
import type { RunSettings } from "../options/run-settings.js";

/** What a run asks of a provider CLI. */
export interface RunSpec {
  prompt: string;
  settings: RunSettings;
  /** The provider's session to continue, if the session has one. */
  resumeProviderSessionId: string | undefined;
  /** Environment the CLI may see beyond `settings.env` (PATH, HOME of the host). */
  baseEnv: Record<string, string>;
  /** Directory used when `settings.cwd` is unset. */
  defaultCwd: string;
}

/** How to start the CLI. */
export interface CommandSpec {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Lines written to stdin right after spawn (e.g. the user message in stream-json mode). */
  initialInput: string[];
  /**
   * Text written to stdin as it is (no newline added) after `initialInput`: the prompt of a
   * one-shot mode that reads it there, so it is never on the command line (visible in `ps`).
   */
  stdinText?: string;
  /** Whether stdin stays open for control messages (approvals, interrupts). */
  keepStdinOpen: boolean;
}

/** A normalized event as an adapter produces it, before the controller numbers and stamps it. */
export interface EventDraft {
  payload: EventPayload;
  providerSessionId?: string;
  /** The executor's sequence of this event (remote runs): what the controller acknowledges once kept. */
  sourceSequence?: number;
}

/** What one line of CLI output meant. */
export interface ParsedLine {
  events: EventDraft[];
  /** The provider session/thread id, when the line revealed it. */
  providerSessionId?: string;
  /** Lines to write back to the CLI at once (protocol acknowledgements). */
  reply?: string[];
  /** The turn is over: stdin may be closed so the CLI exits. */
  turnEnded?: boolean;
}

/** Per-run protocol state: parser plus control codec. */
export interface AdapterRun {
  parseLine(line: string): ParsedLine;
  /** Lines that tell the CLI the decision on an approval it asked for. */
  answerApproval(approvalId: string, allow: boolean, reason: string): string[];
  /** Lines that interrupt the CLI through its own protocol, or undefined when it has none (signals are used). */
  interrupt(): string[] | undefined;
  /**
   * Lines that start another turn on this same, still running process (a warm process), after
   * the previous turn ended; per-turn state is reset. Undefined when the protocol cannot.
   */
  nextTurn?(prompt: string): string[] | undefined;
}

export interface ProviderAdapter {
  readonly provider: ProviderName;
  /** Binary name looked up on PATH. */
  readonly defaultBinary: string;
  /** Environment variable that overrides the CLI path on the host. */
  readonly cliPathEnv: string;
  /** Whether the CLI can ask for interactive approvals. */
  readonly supportsApprovals: boolean;
  /**
   * Whether the prompt goes on the CLI's command line (the CLI reads it nowhere else): such a
   * prompt must fit one argument (see `checkPrompt`), and is visible to other users of the host.
   */
  readonly promptOnArgv: boolean;
  /** Schema of `provider_options` for this provider. */
  readonly providerOptionsSchema: z.ZodType<Record<string, unknown>>;
  /**
   * Provider-level checks of merged settings (provider options, modes the CLI lacks); throws
   * config_invalid naming the field under `fieldPrefix` (e.g. "options.defaults").
   */
  validate(settings: RunSettings, fieldPrefix: string): void;
  buildCommand(spec: RunSpec, cliPath: string): CommandSpec;
  /** Whether a process started with these settings can take further turns (see `AdapterRun.nextTurn`). */
  canStayWarm(settings: RunSettings): boolean;
  /** Whether a new process started with these settings can continue a provider session (`resumeProviderSessionId`). */
  canResume(settings: RunSettings): boolean;
  startRun(spec: RunSpec): AdapterRun;
}
