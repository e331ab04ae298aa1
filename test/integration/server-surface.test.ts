import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { credentials, status as Status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControllerServiceClient, LOOPBACK_PRINCIPAL, silentLogger } from "@asm/shared";
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

  it("serves reflection for exactly its services: buf curl lists them, resolves every method and calls one with no schema", async () => {
    const buf = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "buf");
    const curl = (...args: string[]) => run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args]);
    const address = `http://127.0.0.1:${t.app.port}`;
    const services = (await curl("--list-services", address)).stdout.trim().split("\n").sort();
    expect(services).toEqual(["asm.v1.ControllerService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);
    const methods = (await curl("--list-methods", address)).stdout.trim().split("\n");
    expect(methods).toEqual(expect.arrayContaining(["asm.v1.ControllerService/CreateSession", "asm.v1.ControllerService/StreamRun", "grpc.health.v1.Health/Check"]));
    expect(methods.some((m) => m.startsWith("asm.v1.ExecutorService"))).toBe(false);
    const info = JSON.parse((await curl("-d", '{"provider":"PROVIDER_CODEX"}', `${address}/asm.v1.ControllerService/GetProviderInfo`)).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ provider: "PROVIDER_CODEX", displayName: "Codex CLI", defaultLane: "auto" });
  });

  it("the README's reflection examples work against a real controller", async () => {
    const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");
    const block = /<!-- example: reflection -->\s*```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    const lines = block.trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) {
      const command = line.replaceAll("127.0.0.1:50051", `127.0.0.1:${t.app.port}`);
      const { stdout } = await run("/bin/sh", ["-c", command], { cwd: join(import.meta.dirname, "..", "..") });
      expect(stdout.trim(), command).not.toBe("");
    }
  });

  it("lane discovery RPCs answer the seed's table", async () => {
    const info = await call(t.client, "getProviderInfo", { provider: 1 });
    expect(info).toMatchObject({ displayName: "Claude Code", sdkRuntime: "@anthropic-ai/claude-agent-sdk", sdkAvailable: false, availableLanes: ["core"], defaultLane: "auto" });
    const lane = await call(t.client, "getLaneInfo", { provider: 2, lane: 1, executionSurface: undefined });
    expect(lane).toMatchObject({ requestedLane: "auto", preferredLane: "core", laneReason: "sdk_unavailable" });
    const resolved = await call(t.client, "resolveLane", { provider: 2, lane: 1, executionMode: 2, executionSurface: undefined });
    expect(resolved.observability).toMatchObject({ requestedLane: "auto", preferredLane: "core", lane: "core", executionMode: "remote_node", laneFallbackReason: "" });
    expect((await call(t.client, "listExecutors", {})).executors).toEqual([]);
  });

  it("refuses a plaintext listener off loopback", async () => {
    const server = new ControllerServer({} as never, async () => LOOPBACK_PRINCIPAL, silentLogger());
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
    const resolved = await call(t.client, "resolveLane", { provider: 2, lane: 1, executionMode: 2, executionSurface: undefined });
    expect(resolved.observability).toMatchObject({
      requestedLane: "auto",
      preferredLane: "sdk",
      lane: "core",
      backend: "core",
      executionMode: "remote_node",
      laneFallbackReason: "sdk_remote_unsupported",
    });
    const err = await new Promise<ServiceError>((resolve) => t.client.resolveLane({ provider: 2, lane: 3, executionMode: 2, executionSurface: undefined }, (e) => resolve(e!)));
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
