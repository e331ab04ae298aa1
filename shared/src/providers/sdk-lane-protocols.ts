/**
 * The protocol pieces the controller's sdk lane reuses: the vendor SDKs speak the same wire
 * objects as the CLIs (claude's stream-json messages, `codex exec --json` events, ACP), so their
 * output goes through the same mappings as the core lane's, and both lanes emit the same events.
 */
export { ClaudeOptions, PERMISSION_FLAG as CLAUDE_PERMISSION_MODES, claudeApprovalRequested, claudeUserMessage, wantsInteractiveApprovals as claudeWantsApprovals } from "./claude/claude-adapter.js";
export { CodexOptions, codexMode, configOverrides as codexConfigOverrides } from "./codex/codex-adapter.js";
export { CodexExecRun } from "./codex/codex-exec-run.js";
export { AcpSessionEvents, type PermissionOutcome } from "./gemini/acp-session-events.js";
export { geminiError } from "./gemini/gemini-failures.js";
export { rawLine, errorDraft } from "./protocol/line-events.js";
