/**
 * The parts of the three vendor SDKs the sdk lane uses, typed structurally: the packages are
 * optional dependencies, so nothing here may need them at build time. `loadSdk` imports one only
 * when a run needs it (discovery found it first).
 */
import { AsmError, sdkDiscoveryFrom, type SdkDiscovery } from "@asm/shared";

// ---- @anthropic-ai/claude-agent-sdk -------------------------------------------------------

export interface ClaudeSpawnOptions {
  command: string;
  args: string[];
  cwd?: string;
  env: Record<string, string | undefined>;
  signal?: AbortSignal;
}

export interface ClaudeSpawnedProcess {
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  readonly killed: boolean;
  readonly exitCode: number | null;
  kill(signal: NodeJS.Signals): boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the SDK's listeners take (code, signal) or (error)
  on(event: "exit" | "error", listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  once(event: "exit" | "error", listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: "exit" | "error", listener: (...args: any[]) => void): unknown;
}

export type ClaudePermissionResult = { behavior: "allow"; updatedInput: Record<string, unknown> } | { behavior: "deny"; message: string; interrupt?: boolean };

export interface ClaudeQueryOptions {
  pathToClaudeCodeExecutable: string;
  spawnClaudeCodeProcess: (options: ClaudeSpawnOptions) => ClaudeSpawnedProcess;
  cwd: string;
  env: Record<string, string>;
  permissionMode: string;
  allowDangerouslySkipPermissions?: boolean;
  canUseTool?: (toolName: string, input: Record<string, unknown>, options: { signal: AbortSignal; toolUseID?: string; description?: string; title?: string }) => Promise<ClaudePermissionResult>;
  includePartialMessages: boolean;
  settingSources: string[];
  systemPrompt?: string | { type: "preset"; preset: "claude_code"; append?: string };
  model?: string;
  maxTurns?: number;
  resume?: string;
  stderr?: (data: string) => void;
}

export interface ClaudeQuery extends AsyncIterable<Record<string, unknown>> {
  interrupt(): Promise<unknown>;
  close(): void;
}

export interface ClaudeAgentSdk {
  query(args: { prompt: AsyncIterable<Record<string, unknown>>; options: ClaudeQueryOptions }): ClaudeQuery;
}

// ---- @openai/codex-sdk --------------------------------------------------------------------

export interface CodexThreadOptions {
  model?: string;
  sandboxMode?: "read-only" | "workspace-write" | "danger-full-access";
  approvalPolicy?: "never" | "on-request" | "on-failure";
  skipGitRepoCheck?: boolean;
}

export interface CodexThread {
  runStreamed(input: string, options?: { signal?: AbortSignal }): Promise<{ events: AsyncIterable<Record<string, unknown>> }>;
}

export interface CodexSdk {
  Codex: new (options: { codexPathOverride: string; env: Record<string, string>; configOverrides?: string[] }) => {
    startThread(options: CodexThreadOptions): CodexThread;
    resumeThread(id: string, options: CodexThreadOptions): CodexThread;
  };
}

// ---- @agentclientprotocol/sdk -------------------------------------------------------------

export interface AcpMessageStream {
  writable: WritableStream<unknown>;
  readable: ReadableStream<unknown>;
}

export interface AcpClientConnection {
  readonly agent: {
    request(method: string, params: unknown): Promise<unknown>;
    notify(method: string, params: unknown): Promise<void>;
  };
  readonly closed: Promise<void>;
  close(error?: unknown): void;
}

export interface AcpClientApp {
  onRequest(method: string, handler: (ctx: { params: unknown; method: string }) => unknown): AcpClientApp;
  onNotification(method: string, handler: (ctx: { params: unknown; method: string }) => unknown): AcpClientApp;
  connect(stream: AcpMessageStream): AcpClientConnection;
}

export interface AcpSdk {
  client(info: { name: string; version?: string }): AcpClientApp;
  PROTOCOL_VERSION: number;
  RequestError: { methodNotFound(method: string): Error };
}

// ---- loading ------------------------------------------------------------------------------

export interface SdkModules {
  "@anthropic-ai/claude-agent-sdk": ClaudeAgentSdk;
  "@openai/codex-sdk": CodexSdk;
  "@agentclientprotocol/sdk": AcpSdk;
}
export type SdkPackage = keyof SdkModules;

/**
 * Discovery as `loadSdk` imports: the packages this module (the controller package, whose
 * optional dependencies they are) resolves.
 */
export const controllerSdkDiscovery: SdkDiscovery = sdkDiscoveryFrom(import.meta.url);

const loaded = new Map<SdkPackage, Promise<unknown>>();

/**
 * Imports an sdk package (once per process; a failed import is tried again next time). A package
 * that discovery found but that cannot be imported is `sdk_backend_unavailable`.
 */
export function loadSdk<P extends SdkPackage>(pkg: P): Promise<SdkModules[P]> {
  let pending = loaded.get(pkg);
  if (!pending) {
    // A variable specifier: the package is resolved at run time only, never by the compiler.
    const specifier: string = pkg;
    pending = import(specifier).catch((err: unknown) => {
      loaded.delete(pkg);
      throw new AsmError({
        reasonCode: "sdk_backend_unavailable",
        message: `${pkg} was found but could not be loaded: ${err instanceof Error ? err.message : String(err)}`,
        details: { sdk_runtime: pkg },
        cause: err,
      });
    });
    loaded.set(pkg, pending);
  }
  return pending as Promise<SdkModules[P]>;
}
