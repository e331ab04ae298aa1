/** What both codex protocols report alike: tool names, file change summaries, tool inputs, the run's cwd. */
import type { RunSpec } from "../provider-adapter.js";

export function cwdOf(spec: RunSpec): string {
  return spec.settings.cwd ?? spec.defaultCwd;
}


export function asInput(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { arguments: value ?? null };
}

export function textOf(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}


/** `add a.txt`, `update b.txt`: the summary a file change's tool result carries. */
export function changeSummary(changes: readonly { path: string; kind?: unknown }[]): string {
  return changes
    .map((c) => {
      const kind = typeof c.kind === "string" ? c.kind : typeof c.kind === "object" && c.kind !== null && "type" in c.kind && typeof c.kind.type === "string" ? c.kind.type : "change";
      return `${kind} ${c.path}`;
    })
    .join("\n");
}

export const FAILED_STATUSES = new Set(["failed", "declined"]);

/** Tool names asm reports: Codex's own tool names; MCP tools as `mcp__<server>__<tool>` (Claude's spelling). */
export const SHELL_TOOL = "shell";
export const PATCH_TOOL = "apply_patch";
export const mcpToolName = (server: string, tool: string): string => `mcp__${server}__${tool}`;

