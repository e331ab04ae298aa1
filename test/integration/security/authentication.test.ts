/**
 * Who may call the controller: every credential a client can bring (or fail to), through the real
 * gRPC server, real certificates, real signed tokens, and what the controller logs about each.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { credentials, status as Status, type Interceptor, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControllerServiceClient, Provider, fromGrpcError } from "@asm/shared";
import { bearer, capturingLogger, createJwtIssuer, writeTokenFile, type JwtIssuer } from "../../helpers/auth.js";
import { call } from "../../helpers/grpc-client.js";
import { createTestPki, type TestPki } from "../../helpers/pki.js";
import { runOptions } from "../../helpers/sessions.js";
import { startTestController, type TestController } from "../../helpers/test-controller.js";

const STATIC_TOKEN = "static-token-7f3a9c1e5b";

describe("authentication: every call names its principal, or is refused UNAUTHENTICATED", () => {
  let pki: TestPki;
  let jwt: JwtIssuer;
  let t: TestController;
  let strict: TestController;
  const logs = capturingLogger();

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-auth-"));
    pki = createTestPki(join(dir, "pki"));
    jwt = await createJwtIssuer(dir);
    const tls = { ASM_INSECURE_LOOPBACK: "0", ASM_TLS_CA: pki.ca.cert, ASM_TLS_CERT: pki.server.cert, ASM_TLS_KEY: pki.server.key };
    // Certificates optional (a token may name the caller instead), tokens and JWTs on.
    t = await startTestController({
      logger: logs.logger,
      env: {
        ...tls,
        ASM_TLS_REQUIRE_CLIENT_CERT: "0",
        ASM_AUTH_CLIENT_IDENTITIES: "spiffe://asm.test/client/c1",
        ASM_AUTH_TOKEN_FILE: writeTokenFile(dir, { [STATIC_TOKEN]: { principal: "bob" } }),
        ASM_AUTH_JWT_JWKS_FILE: jwt.jwksFile,
        ASM_AUTH_JWT_ISSUER: jwt.issuer,
        ASM_AUTH_JWT_AUDIENCE: jwt.audience,
      },
    });
    // Certificates required: the handshake itself refuses what the CA did not sign.
    strict = await startTestController({ env: tls });
  });
  afterAll(async () => {
    await t?.stop();
    await strict?.stop();
  });

  const connect = (port: number, opts: { cert?: { cert: string; key: string }; token?: string; raw?: string; tls12?: boolean } = {}): ControllerServiceClient => {
    const ca = readFileSync(pki.ca.cert);
    const key = opts.cert ? readFileSync(opts.cert.key) : undefined;
    const cert = opts.cert ? readFileSync(opts.cert.cert) : undefined;
    const creds = opts.tls12
      ? credentials.createFromSecureContext(createSecureContext({ ca, key, cert, maxVersion: "TLSv1.2" }))
      : credentials.createSsl(ca, key ?? null, cert ?? null);
    const interceptors: Interceptor[] = opts.token !== undefined ? [bearer(opts.token)] : opts.raw !== undefined ? [bearer(opts.raw, true)] : [];
    return new ControllerServiceClient(`localhost:${port}`, creds, { interceptors });
  };

  /** The owner of a session created with these credentials (so: the principal they name). */
  async function principalOf(client: ControllerServiceClient): Promise<string> {
    const res = await call(client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({}) } });
    client.close();
    return res.session!.owner;
  }

  async function refusal(client: ControllerServiceClient): Promise<{ code: number; reasonCode: string }> {
    const err = (await call(client, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" }).then(
      () => undefined,
      (e: ServiceError) => e,
    ))!;
    client.close();
    expect(err, "the call was expected to be refused").toBeDefined();
    return { code: err.code, reasonCode: err.code === Status.UNAVAILABLE ? "" : fromGrpcError(err).reasonCode };
  }

  it("accepts a JWT (sub), a static token, and an allowed client certificate (its URI SAN)", async () => {
    expect(await principalOf(connect(t.app.port, { token: await jwt.sign({ sub: "alice" }) }))).toBe("alice");
    expect(await principalOf(connect(t.app.port, { token: STATIC_TOKEN }))).toBe("bob");
    expect(await principalOf(connect(t.app.port, { cert: pki.client }))).toBe("spiffe://asm.test/client/c1");
    // A token names the caller even over a certificate.
    expect(await principalOf(connect(t.app.port, { cert: pki.client, token: STATIC_TOKEN }))).toBe("bob");
  });

  it("refuses each bad credential with its own reason, and logs the peer and the reason, never the token", async () => {
    const expired = await jwt.sign({ expSecondsFromNow: -3600 });
    const wrongIssuer = await jwt.sign({ iss: "https://elsewhere.test" });
    const wrongAudience = await jwt.sign({ aud: "another-service" });
    const otherKey = await jwt.signWithOtherKey();
    const cases: [string, ControllerServiceClient, string][] = [
      ["no credentials", connect(t.app.port), "credentials_missing"],
      ["not a bearer value", connect(t.app.port, { raw: "Basic dXNlcjpwYXNz" }), "credentials_malformed"],
      ["a malformed JWT", connect(t.app.port, { token: "eyJhbGciOi.not-base64!.x" }), "credentials_malformed"],
      ["an unknown opaque token", connect(t.app.port, { token: "no-such-token-0001" }), "token_unknown"],
      ["an expired token", connect(t.app.port, { token: expired }), "token_expired"],
      ["a token from another issuer", connect(t.app.port, { token: wrongIssuer }), "token_issuer_mismatch"],
      ["a token for another audience", connect(t.app.port, { token: wrongAudience }), "token_audience_mismatch"],
      ["a token signed by another key", connect(t.app.port, { token: otherKey }), "token_signature_invalid"],
      ["a certificate from another CA (it authenticates nothing)", connect(t.app.port, { cert: pki.rogueClient }), "credentials_missing"],
      ["a CA-signed certificate whose identity is not allowed", connect(t.app.port, { cert: pki.strangerClient }), "client_identity_not_allowed"],
    ];
    for (const [name, client, reasonCode] of cases) {
      expect({ name, ...(await refusal(client)) }).toEqual({ name, code: Status.UNAUTHENTICATED, reasonCode });
    }
    const text = logs.text();
    for (const [, , reasonCode] of cases) expect(text).toContain(`"reasonCode":"${reasonCode}"`);
    expect(text).toMatch(/"peer":"(127\.0\.0\.1|\[::1\]|localhost):\d+"/);
    for (const secret of [expired, wrongIssuer, wrongAudience, otherKey, "no-such-token-0001", "dXNlcjpwYXNz", STATIC_TOKEN]) expect(text).not.toContain(secret);
  });

  it("refuses a TLS 1.2 client, and (certificates required) one without a certificate or with one from another CA, at the handshake", async () => {
    expect((await refusal(connect(t.app.port, { token: STATIC_TOKEN, tls12: true }))).code).toBe(Status.UNAVAILABLE);
    expect((await refusal(connect(strict.app.port, { cert: pki.client, tls12: true }))).code).toBe(Status.UNAVAILABLE);
    expect((await refusal(connect(strict.app.port))).code).toBe(Status.UNAVAILABLE);
    expect((await refusal(connect(strict.app.port, { cert: pki.rogueClient }))).code).toBe(Status.UNAVAILABLE);
    // The same client over TLS 1.3 is let in.
    expect(await principalOf(connect(strict.app.port, { cert: pki.client }))).toBe("spiffe://asm.test/client/c1");
  });

  it("a plaintext loopback listener with tokens configured still requires them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-auth-plain-"));
    const plain = await startTestController({ env: { ASM_AUTH_TOKEN_FILE: writeTokenFile(dir, { [STATIC_TOKEN]: { principal: "bob" } }) } });
    try {
      const anonymous = new ControllerServiceClient(`127.0.0.1:${plain.app.port}`, credentials.createInsecure());
      expect(await refusal(anonymous)).toEqual({ code: Status.UNAUTHENTICATED, reasonCode: "credentials_missing" });
      const withToken = new ControllerServiceClient(`127.0.0.1:${plain.app.port}`, credentials.createInsecure(), { interceptors: [bearer(STATIC_TOKEN)] });
      expect(await principalOf(withToken)).toBe("bob");
    } finally {
      await plain.stop();
    }
  });
});
