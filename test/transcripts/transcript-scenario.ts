/**
 * What a recording scenario is: a named script that starts one provider CLI (or two, for a
 * resume), talks to it the way its protocol expects, and leaves a transcript behind.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { AnyModelMock } from "../mock-models/index.js";
import type { CliRecording } from "./cli-recording.js";

export interface ScenarioContext {
  mock: AnyModelMock;
  /** The scenario's own working directory (the CLI's cwd) and HOME, empty at the start. */
  work: string;
  home: string;
  /** Starts the CLI with these arguments in `work`, with the hermetic environment plus `env`. */
  start(args: string[], opts?: { stdin?: "open" | "closed"; env?: Record<string, string> }): CliRecording;
  /** A note in the transcript (`! text`), e.g. what the scenario checked on disk. */
  note(text: string): void;
}

export interface TranscriptScenario {
  /** File name without extension, e.g. `sj-approval-allow`. */
  name: string;
  /** One line for the fixtures README: what the transcript shows. */
  shows: string;
  run(ctx: ScenarioContext): Promise<void>;
}

export interface ProviderRecordings {
  provider: "claude" | "codex" | "gemini";
  scenarios: TranscriptScenario[];
}

/** A JSON-RPC response to request `id` (codex app-server and ACP both answer this way). */
export const isResponse =
  (id: number) =>
  (j: any): boolean =>
    j?.id === id && (j.result !== undefined || j.error !== undefined) && j.method === undefined;

/** The model API failures every mode is recorded with. */
export const MODEL_API_ERRORS = [401, 429, 500] as const;

/**
 * Scenarios of one protocol mode: `sj-text` shown as "stream-json: one text turn", and so on.
 * (`prefix` names the files, `mode` the README's rows.)
 */
export function scenarioFamily(prefix: string, mode: string) {
  return (name: string, shows: string, run: (ctx: ScenarioContext) => Promise<void>): TranscriptScenario => ({ name: `${prefix}-${name}`, shows: `${mode}: ${shows}`, run });
}

/** A one-shot CLI as asm drives it: started, the prompt on stdin, stdin closed. */
export function once(ctx: ScenarioContext, command: { args: string[]; prompt: string }): CliRecording {
  const cli = ctx.start(command.args);
  cli.sendText(command.prompt);
  cli.closeStdin();
  return cli;
}

/** Notes in the transcript whether the run left `file` in the working directory. */
export function noteFile(ctx: ScenarioContext, file: string): void {
  ctx.note(`${file} exists after the run: ${existsSync(join(ctx.work, file)) ? "yes" : "no"}`);
}
