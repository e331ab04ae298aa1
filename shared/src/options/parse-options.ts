import type { z } from "zod";
import { AsmError } from "../errors/asm-error.js";

const camelToSnake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Option maps whose keys are the caller's own (environment names, provider-native keys). */
const FREE_KEY_MAPS = new Set(["env", "providerOptions", "driverOpts"]);
/** A prefix that already names one of those maps (e.g. `options.provider_options`). */
const FREE_KEY_PREFIX = /(^|\.)(env|provider_options|driver_opts)$/;

/**
 * Renders a zod issue path as the proto field path a client sent, e.g.
 * `options.defaults.stream_timeout_ms`; keys inside free-form maps are kept as given.
 */
export function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let verbatim = FREE_KEY_PREFIX.test(prefix);
  const parts = path.map((p) => {
    if (typeof p === "number") return `[${p}]`;
    const key = String(p);
    const rendered = verbatim ? key : camelToSnake(key);
    if (FREE_KEY_MAPS.has(key)) verbatim = true;
    return rendered;
  });
  return [prefix, ...parts].filter(Boolean).join(".").replace(/\.\[/g, "[");
}

/**
 * Parses untrusted input with a zod schema. On failure throws one `config_invalid` AsmError whose
 * `field` names the first offending path and whose details list every issue.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => {
    const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0] ?? ""] : issue.path;
    return { field: fieldPath(prefix, path), message: issue.message };
  });
  const [first, ...others] = issues as [(typeof issues)[number], ...typeof issues];
  // The field of the first issue is the error's `field` (the status text leads with it): the
  // message names only the fields of the others.
  return throwConfig(first.field, [first.message, ...others.map((i) => `${i.field}: ${i.message}`)].join("; "), issues);
}

function throwConfig(field: string, message: string, issues: { field: string; message: string }[]): never {
  throw new AsmError({ field, message, reasonCode: "invalid_option", details: { issues } });
}
