/**
 * Readers of the provider transcripts in test/fixtures/transcripts/ (see its README):
 * - claude, codex, gemini: recorded from the pinned real CLIs by `make transcripts`, one `.log` per
 *   scenario: `> line` written to the CLI, `< line` read from its stdout, `! note` the recorder's
 *   notes (spawn, env, signals, stdin closed, exit, stderr, files the run left);
 * - amp, cursor: hand-recorded from the documented formats, one `.jsonl` of stdout per file.
 */
import { readdirSync, readFileSync } from "node:fs";

const FIXTURES = new URL("../fixtures/transcripts/", import.meta.url);

export type RecordedProvider = "claude" | "codex" | "gemini";

export interface LogLine {
  dir: "<" | ">" | "!";
  text: string;
}

/** The scenarios recorded for a provider (the `.log` files of its folder), sorted. */
export function recordedScenarios(provider: RecordedProvider): string[] {
  return readdirSync(new URL(`${provider}/`, FIXTURES))
    .filter((f) => f.endsWith(".log"))
    .map((f) => f.slice(0, -".log".length))
    .sort();
}

/** Every entry of a recorded transcript, in order. */
export function transcript(provider: RecordedProvider, scenario: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of readFileSync(new URL(`${provider}/${scenario}.log`, FIXTURES), "utf8").split("\n")) {
    if (line === "") continue;
    const m = /^([<>!]) (.*)$/.exec(line);
    if (!m) throw new Error(`${provider}/${scenario}.log: not a transcript line: ${line.slice(0, 80)}`);
    out.push({ dir: m[1] as LogLine["dir"], text: m[2]! });
  }
  return out;
}

/** The CLI's stdout lines. */
export const stdoutOf = (provider: RecordedProvider, scenario: string): string[] => transcript(provider, scenario).filter((l) => l.dir === "<").map((l) => l.text);
/** The lines written to the CLI's stdin. */
export const stdinOf = (provider: RecordedProvider, scenario: string): string[] => transcript(provider, scenario).filter((l) => l.dir === ">").map((l) => l.text);
/** The recorder's notes (`spawn …`, `env …`, `exit code=… signal=…`, `stderr …`, …). */
export const notesOf = (provider: RecordedProvider, scenario: string): string[] => transcript(provider, scenario).filter((l) => l.dir === "!").map((l) => l.text);

/** The argument list of each spawn in a transcript (`! spawn ["claude", …]`), the binary's name left out. */
export function spawnArgs(provider: RecordedProvider, scenario: string): string[][] {
  return notesOf(provider, scenario)
    .filter((n) => n.startsWith("spawn "))
    .map((n) => (JSON.parse(n.slice("spawn ".length)) as string[]).slice(1));
}

/** Every non-empty line of a hand-recorded JSONL transcript (`amp/text.jsonl`, `cursor/tool.jsonl`, …). */
export function handRecorded(provider: "amp" | "cursor", name: string): string[] {
  return readFileSync(new URL(`${provider}/${name}.jsonl`, FIXTURES), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
}

export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
