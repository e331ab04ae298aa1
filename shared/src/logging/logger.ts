import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger } from "pino";

/** What stands in for a secret in a response or a log line. */
export const REDACTED = "[redacted]";

/** Paths whose values never reach a log line. */
export const REDACTED_PATHS = [
  "env",
  "*.env",
  "*.*.env",
  "cookie",
  "*.cookie",
  "remote_cookie",
  "*.remote_cookie",
  "*.remoteCookie",
  "authorization",
  "*.authorization",
  "apiKey",
  "*.apiKey",
  "token",
  "*.token",
];

/** The one root logger of a process; everything else uses `child()` of it. */
export function createRootLogger(opts: { name: string; level?: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? process.env.ASM_LOG_LEVEL ?? "info",
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination,
  );
}

/** A logger that writes nothing (tests, libraries used without a logger). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
