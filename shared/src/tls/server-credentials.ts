import { unwatchFile, watchFile } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "../logging/logger.js";
import { loadTlsMaterial } from "./tls-files.js";

export interface MtlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

function contextOptions(files: MtlsFiles): SecureContextOptions {
  const material = loadTlsMaterial(files);
  return { ca: material.ca, cert: material.cert, key: material.key, minVersion: "TLSv1.3" };
}

/**
 * Server credentials of the executor and of the controller's client port: TLS 1.3 only; a client
 * certificate is asked for, and with `requireClientCert` (the executor always) one from the
 * configured CA is required: the handshake rejects a missing, foreign or expired one. Without it,
 * a connection may come without one (a bearer token then names the caller), and a certificate
 * the CA did not sign authenticates nothing. The files are watched:
 * a rotated certificate, key or CA is used by new connections without a restart (replace files
 * atomically; an unreadable set is logged and the previous one kept).
 */
export class TlsServerCredentials extends ServerCredentials {
  private watching = false;

  constructor(
    private readonly files: MtlsFiles,
    private readonly logger: Logger,
    requireClientCert = true,
  ) {
    super({ requestCert: true, rejectUnauthorized: requireClientCert, minVersion: "TLSv1.3" }, contextOptions(files));
  }

  /** Starts polling the files for changes. */
  watch(intervalMs: number): void {
    if (this.watching) return;
    this.watching = true;
    for (const file of [this.files.caFile, this.files.certFile, this.files.keyFile]) {
      watchFile(file, { interval: intervalMs, persistent: false }, (curr, prev) => {
        if (curr.mtimeMs !== prev.mtimeMs || curr.ino !== prev.ino) this.reload();
      });
    }
  }

  unwatch(): void {
    for (const file of [this.files.caFile, this.files.certFile, this.files.keyFile]) unwatchFile(file);
    this.watching = false;
  }

  reload(): void {
    try {
      this.updateSecureContextOptions(contextOptions(this.files));
      this.logger.info("TLS certificates reloaded");
    } catch (err) {
      this.logger.error({ err }, "TLS certificates could not be reloaded; keeping the previous ones");
    }
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
