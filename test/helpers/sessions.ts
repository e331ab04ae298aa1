import { Provider, type RunOptions, type SessionOptions } from "@asm/shared";
import { call } from "./grpc-client.js";
import type { TestController } from "./test-controller.js";

/** RunOptions with every field unset (the generated type wants them all present). */
export function runOptions(partial: Partial<RunOptions> = {}): RunOptions {
  return { lane: 0, executionMode: 0, permissionMode: 0, env: {}, driverOpts: undefined, providerOptions: undefined, executionSurface: undefined, ...partial };
}

/** Creates a claude session driven by the fake CLI; `defaults` and limits override. */
export async function createFakeSession(t: TestController, defaults: Partial<RunOptions> = {}, limits: Partial<SessionOptions> = {}): Promise<string> {
  const res = await call(t.client, "createSession", {
    provider: Provider.PROVIDER_CLAUDE,
    sessionId: "",
    options: { defaults: runOptions({ cliPath: t.fakeClaude, ...defaults }), ...limits },
  });
  return res.session!.sessionId;
}

/** Polls GetSession until the session's active and queued run ids are as given. */
export async function waitForRuns(t: TestController, sessionId: string, active: string[], queued: string[]): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const s = (await call(t.client, "getSession", { sessionId })).session!;
    if (JSON.stringify(s.activeRunIds) === JSON.stringify(active) && JSON.stringify(s.queuedRunIds) === JSON.stringify(queued)) return;
    if (Date.now() > until) throw new Error(`session ${sessionId}: active ${s.activeRunIds} queued ${s.queuedRunIds}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Creates a session for any provider with the given defaults. */
export async function createSession(t: TestController, provider: Provider, defaults: Partial<RunOptions>, limits: Partial<SessionOptions> = {}): Promise<string> {
  const res = await call(t.client, "createSession", { provider, sessionId: "", options: { defaults: runOptions(defaults), ...limits } });
  return res.session!.sessionId;
}
