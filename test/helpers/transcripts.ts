import { readFileSync } from "node:fs";

// The recorded transcripts live beside the repository (../shared/reference in the workspace and in CI).
const TRANSCRIPTS = new URL("../../../shared/reference/cli-transcripts/", import.meta.url);

export function readTranscript(name: string): string {
  return readFileSync(new URL(name, TRANSCRIPTS), "utf8");
}

/** Every non-empty line of a JSONL transcript (one CLI stdout line per line). */
export function jsonlLines(name: string): string[] {
  return readTranscript(name)
    .split("\n")
    .filter((l) => l.trim() !== "");
}

export interface LogLine {
  dir: "<" | ">" | "!";
  text: string;
}

/** Parses a `.log` transcript: `<ms> < json` (CLI stdout), `<ms> > json` (written to the CLI), `! note`. */
export function logLines(name: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of readTranscript(name).split("\n")) {
    const m = /^\s*(?:\d+\s+)?([<>!]) (.*)$/.exec(line);
    if (m) out.push({ dir: m[1] as LogLine["dir"], text: m[2]! });
  }
  return out;
}

export const stdoutOfLog = (name: string): string[] => logLines(name).filter((l) => l.dir === "<").map((l) => l.text);
export const stdinOfLog = (name: string): string[] => logLines(name).filter((l) => l.dir === ">").map((l) => l.text);

export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
