import { isIP } from "node:net";
import { checkServerIdentity, connect, type PeerCertificate } from "node:tls";
import { AsmError, type ReasonCode } from "@asm/shared";

/** Where an executor is and what its certificate must say. */
export interface ExecutorTarget {
  /** Name the run used (directory name or host:port). */
  node: string;
  host: string;
  port: number;
  /** Name the executor's certificate must carry (SAN DNS/IP, as in HTTPS hostname checks). */
  serverName: string;
}

export interface ClientIdentity {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Verifies the executor's certificate against the expected name (not the dialled host). */
export function executorIdentityCheck(serverName: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => checkServerIdentity(serverName, cert);
}

function failure(target: ExecutorTarget, reasonCode: ReasonCode, message: string, details: Record<string, unknown> = {}): AsmError {
  return new AsmError({
    domain: "transport",
    reasonCode,
    message: `executor ${target.node} (${target.host}:${target.port}): ${message}`,
    details: { executor: target.node, address: `${target.host}:${target.port}`, ...details },
  });
}

/**
 * Opens one TCP + TLS 1.3 connection to the executor and closes it again, to classify what stands
 * in the way before gRPC (whose own errors all read "unavailable") is used: refused, timed out,
 * certificate name not matching, certificate not trusted. Bounded by `timeoutMs`.
 */
export function dialExecutor(target: ExecutorTarget, identity: ClientIdentity, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = connect({
      host: target.host,
      port: target.port,
      ca: identity.ca,
      cert: identity.cert,
      key: identity.key,
      minVersion: "TLSv1.3",
      servername: isIP(target.serverName) ? undefined : target.serverName,
      checkServerIdentity: executorIdentityCheck(target.serverName),
      ALPNProtocols: ["h2"],
    });
    const settle = (err?: AsmError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners("secureConnect");
      socket.on("error", () => undefined);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => settle(failure(target, "connect_timeout", `no TLS connection within remote_connect_timeout_ms (${timeoutMs} ms)`, { timeout_ms: timeoutMs })),
      timeoutMs,
    );
    socket.once("secureConnect", () => settle());
    socket.once("error", (err: NodeJS.ErrnoException) => {
      const code = err.code ?? "";
      if (code === "ECONNREFUSED") settle(failure(target, "connect_refused", "connection refused (is the executor running?)", { code }));
      else if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
        settle(failure(target, "cert_name_mismatch", `its certificate does not name ${target.serverName}: ${err.message}`, { code, expected_name: target.serverName }));
      else if (/CERT|SIGNATURE|SELF_SIGNED|ISSUER/.test(code)) settle(failure(target, "tls_rejected", `its certificate is not trusted: ${err.message}`, { code }));
      else settle(failure(target, "connect_failed", err.message, { code }));
    });
  });
}
