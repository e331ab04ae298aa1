/**
 * Where `asm` connects: flags, then the environment, then the current context of the config file
 * (named contexts, as kubectl has them), then 127.0.0.1:50051 in plaintext.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";
import type { ConnectOptions } from "@asm/client";

export const ContextSchema = z.strictObject({
  address: z.string().min(1),
  ca: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
});
export type Context = z.infer<typeof ContextSchema>;

const ConfigFileSchema = z.strictObject({
  current: z.string().optional(),
  contexts: z.record(z.string().min(1), ContextSchema).default({}),
});
export type ConfigFile = z.infer<typeof ConfigFileSchema>;

export const DEFAULT_ADDRESS = "127.0.0.1:50051";

/** `ASM_CONFIG`, else `$XDG_CONFIG_HOME/asm/config.json`, else `~/.config/asm/config.json`. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.ASM_CONFIG) return env.ASM_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config"), "asm", "config.json");
}

export function readConfig(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return { contexts: {} };
  }
  const parsed = ConfigFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new CliError(`the config file ${path} is not valid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, "fix it, or remove it and run `asm config set-context`");
  return parsed.data;
}

export function writeConfig(path: string, config: ConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // It may hold a token: readable by its owner only.
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

export interface ConnectionFlags {
  address?: string;
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  context?: string;
}

/** The connection `asm` uses, and where it came from (for error hints). */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): ConnectOptions & { source: string } {
  const config = readConfig(configPath(env));
  // An empty variable counts as unset.
  const fromEnv = (k: string): string | undefined => (env[k] ? env[k] : undefined);
  const name = flags.context ?? fromEnv("ASM_CONTEXT") ?? config.current;
  const context = name !== undefined ? config.contexts[name] : undefined;
  if (name !== undefined && context === undefined && (flags.context ?? fromEnv("ASM_CONTEXT")) !== undefined) {
    throw new CliError(`no context named ${JSON.stringify(name)} in ${configPath(env)}`, `see \`asm config view\`, or create it with \`asm config set-context ${name} --address HOST:PORT\``);
  }
  const pick = (flag: string | undefined, envName: string, fromContext: string | undefined): string | undefined => flag ?? fromEnv(envName) ?? fromContext;
  return {
    address: pick(flags.address, "ASM_ADDRESS", context?.address) ?? DEFAULT_ADDRESS,
    caFile: pick(flags.ca, "ASM_CA", context?.ca),
    certFile: pick(flags.cert, "ASM_CERT", context?.cert),
    keyFile: pick(flags.key, "ASM_KEY", context?.key),
    token: pick(flags.token, "ASM_TOKEN", context?.token),
    source: flags.address ? "--address" : fromEnv("ASM_ADDRESS") ? "ASM_ADDRESS" : context ? `context ${name}` : "the default",
  };
}

/** An error `asm` reports as one line and a hint, never a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}
