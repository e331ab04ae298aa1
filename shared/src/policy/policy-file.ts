import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { RoleNameSchema } from "../auth/static-tokens.js";
import { AsmError } from "../errors/asm-error.js";
import { PROVIDERS } from "../lanes/provider-catalog.js";
import { EXECUTION_MODES } from "../lanes/resolve-lane.js";
import { PERMISSION_MODES } from "../options/run-settings.js";
import { ENV_PATTERN } from "./env-keys.js";

const absolutePath = z.string().min(1).max(4096).refine(isAbsolute, "must be an absolute path");
const quota = z.number().int().min(0).max(1_000_000);

/** What one role may use. A field left out takes the built-in value (see BUILT_IN_ROLES). */
export const RoleRulesSchema = z.strictObject({
  providers: z.array(z.enum(PROVIDERS)).optional(),
  execution_modes: z.array(z.enum(EXECUTION_MODES)).optional(),
  /** Executor names (`remote_node`) a remote run may name; `*` for any in the directory. */
  executors: z.array(z.string().min(1).max(255)).optional(),
  permission_modes: z.array(z.enum(PERMISSION_MODES)).optional(),
  /** Open sessions a principal may hold at once. */
  max_live_sessions: quota.optional(),
  /** Queued and running runs a principal may have at once, over all its sessions. */
  max_concurrent_runs: quota.optional(),
});
export type RoleRulesInput = z.infer<typeof RoleRulesSchema>;

/**
 * The operator's policy file (`ASM_POLICY_FILE` on the controller, `--policy` on an executor):
 * what clients may set and what each role may use. Every field is optional.
 */
export const PolicyFileSchema = z.strictObject({
  /** A local run's `cwd` must resolve (symlinks included) inside this directory. */
  workspace_root: absolutePath.optional(),
  /** CLI paths a client may name in `cli_path` (exact, absolute). Default: none. */
  client_cli_paths: z.array(absolutePath).default([]),
  /** Environment keys a client may set (exact names, or prefixes ending in `*`). Default: none. */
  client_env: z.array(z.string().regex(ENV_PATTERN, "must be a variable name, or a prefix ending in *")).default([]),
  /**
   * Provider options a client may set, by provider (option names of its `provider_options`). A
   * provider left out keeps the built-in list (DEFAULT_CLIENT_PROVIDER_OPTIONS): only options
   * that cannot choose a command, an endpoint or a directory outside the run.
   */
  client_provider_options: z.partialRecord(z.enum(PROVIDERS), z.array(z.string().min(1).max(64))).default({}),
  /**
   * SSH targets a run's `execution_surface` ssh_exec may name: `host`, `host:port` or
   * `user@host:port` (no user: any user; no port: 22). Default: none (ssh_exec is refused).
   */
  ssh_targets: z.array(z.string().regex(/^(?:[a-z_][a-z0-9_.-]*@)?[^@:\s]+(?::\d{1,5})?$/i, "must be host, host:port or user@host:port")).default([]),
  /** Rules by role name; `user` and `admin` are built in and may be changed here. */
  roles: z.record(RoleNameSchema, RoleRulesSchema).default({}),
  /** Roles given to principals by id (certificate identity, token principal, JWT sub). */
  principals: z.record(z.string().min(1).max(256), z.array(RoleNameSchema)).default({}),
  /** Roles of a principal that has none from its credential or from `principals`. */
  default_roles: z.array(RoleNameSchema).default(["user"]),
});
export type PolicyFile = z.infer<typeof PolicyFileSchema>;

/** Reads and validates a policy file; every issue is listed in one policy_invalid error. */
export function loadPolicyFile(path: string): PolicyFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new AsmError({ reasonCode: "policy_invalid", message: `policy file ${path}: ${err instanceof Error ? err.message : String(err)}` });
  }
  return parsePolicy(raw, `policy file ${path}`);
}

export function parsePolicy(raw: unknown, source = "policy"): PolicyFile {
  const parsed = PolicyFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`);
    throw new AsmError({ reasonCode: "policy_invalid", message: `${source}:\n  ${issues.join("\n  ")}`, details: { issues } });
  }
  return parsed.data;
}
