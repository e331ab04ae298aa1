/**
 * Makes a recording repeatable: the values that differ from one recording to the next with the
 * same pinned CLIs (ids, clocks, durations, ports, temporary paths, the machine's name) become
 * stable stand-ins, so `make transcripts` twice in a row changes no file. Everything else is kept
 * byte for byte, and a value that occurs twice in a transcript gets the same stand-in both times
 * (a session id in `init` and in `result` stays one id).
 */
import { hostname, tmpdir } from "node:os";

/**
 * JSON number fields that measure time spent: any `…_ms` / `…Ms` / `…duration` key (`duration_ms`,
 * `ttft_stream_ms`, `durationMs`, …) that is not a clock reading below nor a configured timeout.
 */
const DURATION_KEY = /^(?!.*[Tt]imeout)[A-Za-z_]*(?:_ms|Ms|[Dd]uration)$/;

const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
/** ISO-8601 instants with any fraction (`2026-11-21T05:47:57.164Z`, `…57.408441Z`, `…57+00:00`). */
const ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})\b/g;
/** Epoch milliseconds of these years (2023–2033) anywhere, e.g. inside an id such as `tool-1795240083421`. */
const EPOCH_MS = /(?<![\d.])1[7-9]\d{11}(?![\d.])/g;
const FIXED_TIME = "2026-01-01T00:00:00.000Z";
const EPOCH_BASE_MS = Date.UTC(2026, 0, 1);
const FIXED_DURATION = 100;
const FIXED_PID = 4242;
/** JSON fields that hold a clock reading: `createdAt`, `recencyAt`, `emittedAtMs`, `created_at`, `timestamp_ms`, … */
const CLOCK_KEY = /(?:At|_at|AtMs|_at_ms|[Tt]imestamp|[Tt]imestamp_ms|[Tt]imestampMs)$/;
/** Volatile pieces of text, each with its stand-in. */
const FIXED_TEXT: [RegExp, string][] = [
  // Claude Code's messaging socket is named after its pid.
  [/\/tmp\/cc-socks\/\d+\.sock/g, "/tmp/cc-socks/<pid>.sock"],
  // Codex names a rollout file after the day and time the thread started.
  [/sessions\/\d{4}\/\d{2}\/\d{2}\/rollout-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-/g, "sessions/2026/01/01/rollout-2026-01-01T00-00-00-"],
  // Codex's tool output starts with a random chunk id, and names the process that ran the command.
  [/Chunk ID: [0-9a-f]+/g, "Chunk ID: 000000"],
  // Gemini's shell tool output names the process group it ran in.
  [/Process Group PGID: \d+/g, `Process Group PGID: ${FIXED_PID}`],
  // Gemini names its error report files after the time, with "-" for ":" and ".".
  [/\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z/g, "2026-01-01T00-00-00-000Z"],
  [/"processId":"\d+"/g, `"processId":"${FIXED_PID}"`],
  // The app-server reports the machine's name.
  [/"serverName":"[^"]*"/g, '"serverName":"<hostname>"'],
];
const NUMBER_FIELD = /"([A-Za-z_]+)":(\d+(?:\.\d+)?)/g;
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/**
 * stderr lines a CLI prints or not depending on timing: left out, so that whether they came does
 * not change the file. Gemini's start-up profiler reports phases the exit overtook
 * (`[STARTUP] Phase 'cleanup_ops' was started but never ended…`, `[STARTUP] Cannot measure phase…`).
 */
const RACY_STDERR = [/^\[STARTUP\] /];

export function isRacyStderr(line: string): boolean {
  return RACY_STDERR.some((p) => p.test(line));
}

export interface NormalizerOptions {
  /** The scenario's scratch directory (HOME and cwd live in it). */
  scratch: string;
  /** The mock model server's port. */
  port: number;
  /** The repository's root (stack traces name files of the installed CLIs under it). */
  repoRoot: string;
  /** The machine's name. Default: this machine's. */
  hostname?: string;
}

export class TranscriptNormalizer {
  private readonly seen = new Map<string, Map<string, string>>();
  private readonly replacements: [string, string][];

  constructor(opts: NormalizerOptions) {
    const scratch = opts.scratch;
    this.replacements = [
      [scratch, "/tmp/asm-transcript"],
      [opts.repoRoot, "<repo>"],
      // Claude names a project's folder after its cwd with every "/" and "." turned into "-".
      [scratch.replace(/[/.]/g, "-"), "-tmp-asm-transcript"],
      [`127.0.0.1:${opts.port}`, "127.0.0.1:<mock-port>"],
      [`localhost:${opts.port}`, "localhost:<mock-port>"],
      [tmpdir(), "/tmp"],
    ];
    // A very short or generic name would replace words that are not the machine's name.
    const name = opts.hostname ?? hostname();
    if (name.length >= 4 && name !== "localhost") this.replacements.push([name, "<hostname>"]);

  }

  line(text: string): string {
    let out = text.replace(ANSI, "");
    for (const [from, to] of this.replacements) out = out.split(from).join(to);
    out = out.replace(UUID, (u) => this.stand("uuid", u.toLowerCase(), (n) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`));
    // Clock readings and durations become one constant each: two of them that happen to be equal
    // in one recording and not in the next must not change the file.
    out = out.replace(ISO_TIME, FIXED_TIME);
    out = out.replace(NUMBER_FIELD, (field, key: string, value: string) => {
      if (key === "pid") return `"pid":${FIXED_PID}`;
      // A 10-digit number is epoch seconds and a 13-digit one epoch milliseconds (2001–2286).
      if (CLOCK_KEY.test(key) && /^\d{10}$/.test(value)) return `"${key}":${EPOCH_BASE_MS / 1000}`;
      if (CLOCK_KEY.test(key) && /^\d{13}$/.test(value)) return `"${key}":${EPOCH_BASE_MS}`;
      return DURATION_KEY.test(key) ? `"${key}":${FIXED_DURATION}` : field;
    });
    for (const [pattern, standIn] of FIXED_TEXT) out = out.replace(pattern, standIn);
    // Inside ids a clock reading is part of the identity: the n-th distinct one gets the n-th stand-in.
    out = out.replace(EPOCH_MS, (ms) => this.stand("epoch-ms", ms, (n) => String(EPOCH_BASE_MS + n)));
    return out;
  }

  /** The stand-in for `value` in `space`: the n-th distinct value seen there gets `make(n)`. */
  private stand(space: string, value: string, make: (n: number) => string): string {
    let values = this.seen.get(space);
    if (!values) this.seen.set(space, (values = new Map()));
    let standIn = values.get(value);
    if (standIn === undefined) values.set(value, (standIn = make(values.size + 1)));
    return standIn;
  }
}
