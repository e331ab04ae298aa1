import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { credentials, status as Status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControllerServiceClient, silentLogger } from "@asm/shared";
import { ControllerServer } from "../../controller/src/server/grpc-server.js";
import { call } from "../helpers/grpc-client.js";
import { healthClient } from "../helpers/health-client.js";
import { createTestPki, type TestPki } from "../helpers/pki.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

const run = promisify(execFile);


describe("plaintext loopback server", () => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("serves grpc.health.v1 health checking", async () => {
    const health = healthClient(`127.0.0.1:${t.app.port}`);
    expect(await health.check("")).toBe("SERVING");
    expect(await health.check("asm.v1.ControllerService")).toBe("SERVING");
    health.close();
  });

  it("serves reflection (buf curl lists the services)", async () => {
    const buf = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "buf");
    const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", `http://127.0.0.1:${t.app.port}`]);
    expect(stdout).toContain("asm.v1.ControllerService");
    expect(stdout).toContain("grpc.health.v1.Health");
  });

  it("lane discovery RPCs answer the seed's table", async () => {
    const info = await call(t.client, "getProviderInfo", { provider: 1 });
    expect(info).toMatchObject({ displayName: "Claude Code", sdkRuntime: "@anthropic-ai/claude-agent-sdk", sdkAvailable: false, availableLanes: ["core"], defaultLane: "auto" });
    const lane = await call(t.client, "getLaneInfo", { provider: 2, lane: 1 });
    expect(lane).toMatchObject({ requestedLane: "auto", preferredLane: "core", laneReason: "sdk_unavailable" });
    const resolved = await call(t.client, "resolveLane", { provider: 2, lane: 1, executionMode: 2 });
    expect(resolved.observability).toMatchObject({ requestedLane: "auto", preferredLane: "core", lane: "core", executionMode: "remote_node", laneFallbackReason: "" });
    expect((await call(t.client, "listExecutors", {})).executors).toEqual([]);
  });

  it("refuses a plaintext listener off loopback", async () => {
    const server = new ControllerServer({} as never, silentLogger());
    await expect(server.listen({ address: "0.0.0.0:0", tls: undefined, insecure: true })).rejects.toThrow(/plaintext is only allowed on loopback/);
    await server.shutdown(0);
  });
});

describe("sdk discovery injected as available", () => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController({ sdkDiscovery: () => true });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("ResolveLane reports the seed's remote fallback exactly", async () => {
    const resolved = await call(t.client, "resolveLane", { provider: 2, lane: 1, executionMode: 2 });
    expect(resolved.observability).toMatchObject({
      requestedLane: "auto",
      preferredLane: "sdk",
      lane: "core",
      backend: "core",
      executionMode: "remote_node",
      laneFallbackReason: "sdk_remote_unsupported",
    });
    const err = await new Promise<ServiceError>((resolve) => t.client.resolveLane({ provider: 2, lane: 3, executionMode: 2 }, (e) => resolve(e!)));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
  });
});

describe("TLS with client certificates", () => {
  let t: TestController;
  let pki: TestPki;
  beforeAll(async () => {
    const scratch = await startTestController();
    pki = createTestPki(join(scratch.dir, "pki"));
    await scratch.stop();
    t = await startTestController({
      env: { ASM_INSECURE_LOOPBACK: "0", ASM_TLS_CA: pki.ca.cert, ASM_TLS_CERT: pki.server.cert, ASM_TLS_KEY: pki.server.key },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const connect = (files?: { cert: string; key: string }) =>
    new ControllerServiceClient(
      `localhost:${t.app.port}`,
      credentials.createSsl(readFileSync(pki.ca.cert), files ? readFileSync(files.key) : null, files ? readFileSync(files.cert) : null),
    );

  it("accepts a client certificate from the CA", async () => {
    const client = connect(pki.client);
    expect((await call(client, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" })).sessions).toEqual([]);
    client.close();
  });

  it("rejects a client without a certificate and one from another CA before any call runs", async () => {
    for (const files of [undefined, pki.rogueClient]) {
      const client = connect(files);
      const err = await call(client, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" }).catch((e: ServiceError) => e);
      expect((err as ServiceError).code).toBe(Status.UNAVAILABLE);
      client.close();
    }
  });
});
