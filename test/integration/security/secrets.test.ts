/**
 * Secrets stay secret: env values and cookies a client sets never come back in a response, and
 * never reach a log line of the controller or the executor, at debug level, through local and
 * remote runs, successful and failed ones.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControllerServiceClient, Provider } from "@asm/shared";
import { bearer, capturingLogger, writeTokenFile } from "../../helpers/auth.js";
import { startExecutorProcess, type ExecutorProcess } from "../../helpers/executor-process.js";
import { call, collectEvents } from "../../helpers/grpc-client.js";
import { createTestPki } from "../../helpers/pki.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions } from "../../helpers/remote-setup.js";
import { runOptions } from "../../helpers/sessions.js";
import { startTestController, type TestController } from "../../helpers/test-controller.js";

const ENV_SECRET = "planted-env-value-5c1d8e";
const COOKIE = "planted-cookie-9a7f21";
const TOKEN = "planted-token-0b44e3";
const WRONG_TOKEN = "planted-wrong-token-71aa";

describe("secrets in responses and logs", () => {
  let t: TestController;
  let executor: ExecutorProcess;
  let client: ControllerServiceClient;
  const logs = capturingLogger("trace");

  beforeAll(async () => {
    const pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
    executor = await startExecutorProcess({ pki, args: ["--cookie", COOKIE, "--log-level", "trace"] });
    const dir = mkdtempSync(join(tmpdir(), "asm-secrets-"));
    t = await startTestController({
      logger: logs.logger,
      env: { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `executor-a=${executor.address}`, ASM_AUTH_TOKEN_FILE: writeTokenFile(dir, { [TOKEN]: { principal: "alice", roles: ["admin"] } }) },
    });
    client = new ControllerServiceClient(`127.0.0.1:${t.app.port}`, credentials.createInsecure(), { interceptors: [bearer(TOKEN)] });
  });
  afterAll(async () => {
    client?.close();
    await t?.stop();
    await executor?.stop();
  });

  it("GetSession, ListSessions and CreateSession show env keys and cookie presence, never their values; no log line holds a secret", async () => {
    const env = { FAKE_CLI_SECRET: ENV_SECRET };
    const local = await call(client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ cliPath: t.fakeClaude, env }) } });
    const remote = await call(client, "createSession", {
      provider: Provider.PROVIDER_CLAUDE,
      sessionId: "",
      options: { defaults: { ...remoteOptions("executor-a", { remote_cookie: COOKIE }), cliPath: t.fakeClaude, env } },
    });
    const wrongCookie = await call(client, "createSession", {
      provider: Provider.PROVIDER_CLAUDE,
      sessionId: "",
      options: { defaults: { ...remoteOptions(`${executor.address}`, { remote_cookie: `${COOKIE}-wrong` }), cliPath: t.fakeClaude, env } },
    });
    const responses: unknown[] = [local, remote, wrongCookie];
    for (const { session } of [local, remote, wrongCookie]) {
      const sessionId = session!.sessionId;
      // A successful run, a failing one (the CLI crashes), and for the wrong cookie a refused one.
      responses.push(await collectEvents(client.streamRun({ sessionId, prompt: "[[scenario:text]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 })));
      responses.push(await collectEvents(client.streamRun({ sessionId, prompt: "[[scenario:crash]]", runId: "", overrides: runOptions({ env: { FAKE_CLI_OTHER: `${ENV_SECRET}-override` } }), keepRunning: false, maxBatchEvents: 0 })));
      const got = await call(client, "getSession", { sessionId });
      expect(got.session!.options!.defaults!.env).toEqual({ FAKE_CLI_SECRET: "[redacted]" });
      responses.push(got);
    }
    expect(remote.session!.options!.defaults!.driverOpts, JSON.stringify(remote.session!.options!.defaults!.driverOpts)).toMatchObject({ remote_cookie: "[redacted]" });
    responses.push(await call(client, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" }));
    // A refused call carrying another token.
    const intruder = new ControllerServiceClient(`127.0.0.1:${t.app.port}`, credentials.createInsecure(), { interceptors: [bearer(WRONG_TOKEN)] });
    await call(intruder, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" }).catch(() => undefined);
    intruder.close();

    const wire = JSON.stringify(responses);
    const logged = logs.text() + executor.output();
    expect(logs.text().length).toBeGreaterThan(0);
    for (const secret of [ENV_SECRET, COOKIE, TOKEN, WRONG_TOKEN]) {
      expect(wire.includes(secret), `a response holds ${secret}`).toBe(false);
      expect(logged.includes(secret), `a log line holds ${secret}`).toBe(false);
    }
  });
});
