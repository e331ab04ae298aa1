import { credentials, loadPackageDefinition, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";

export interface HealthClient {
  /** `grpc.health.v1.Health/Check` of `service` ("" for the server): "SERVING", "NOT_SERVING", … */
  check(service: string): Promise<string>;
  close(): void;
}

/** A standard health-checking client (the proto shipped with grpc-health-check). */
export function healthClient(address: string, creds: ChannelCredentials = credentials.createInsecure()): HealthClient {
  type Raw = { check(req: { service: string }, cb: (err: ServiceError | null, res: { status: string }) => void): void; close(): void };
  const pkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as { grpc: { health: { v1: { Health: new (a: string, c: unknown) => Raw } } } };
  const raw = new pkg.grpc.health.v1.Health(address, creds);
  return {
    check: (service) => new Promise((resolve, reject) => raw.check({ service }, (err, res) => (err ? reject(err) : resolve(res.status)))),
    close: () => raw.close(),
  };
}
