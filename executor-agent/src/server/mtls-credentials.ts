import { unwatchFile, watchFile } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";
import { loadTlsMaterial, type Logger } from "@asm/shared";

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
 * Server credentials for the executor: TLS 1.3 only, a client certificate from the configured CA
 * required (the TLS handshake rejects a missing, foreign or expired one). The files are watched:
 * a rotated certificate, key or CA is used by new connections without a restart (replace files
 * atomically; an unreadable set is logged and the previous one kept).
 */
export class MtlsServerCredentials extends ServerCredentials {
  private watching = false;

  constructor(
    private readonly files: MtlsFiles,
    private readonly logger: Logger,
  ) {
    super({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.3" }, contextOptions(files));
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
