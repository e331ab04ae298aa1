import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, createFileRegistry, fromBinary, toBinary, type DescFile, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Server, ServerDuplexStream, ServiceDefinition } from "@grpc/grpc-js";

/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) answered from the real descriptors:
 * `shared/gen/descriptors.binpb`, which `make proto` builds with buf from this repository's
 * .proto files, the health-checking proto and the reflection protos themselves. Only the services
 * this server serves are listed, and only the files they need are handed out, each with its true
 * name, dependencies, map entries and proto3 optionals, so any reflection client can resolve and
 * call a method.
 */

const NOT_FOUND = 5;

/** The descriptor set shipped with the repository (its path from controller/src or controller/dist). */
function loadDescriptors(): Uint8Array {
  const here = dirname(fileURLToPath(import.meta.url));
  return readFileSync(join(here, "..", "..", "..", "shared", "gen", "descriptors.binpb"));
}

interface Index {
  registry: FileRegistry;
  services: string[];
  /** The files the served services need, by name. */
  files: Map<string, DescFile>;
}

function indexFor(services: readonly string[]): Index {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, loadDescriptors()));
  const files = new Map<string, DescFile>();
  const add = (file: DescFile): void => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    for (const dep of file.dependencies) add(dep);
  };
  for (const name of services) {
    const service = registry.getService(name);
    if (!service) throw new Error(`reflection: no descriptor for ${name} in shared/gen/descriptors.binpb (run make proto)`);
    add(service.file);
  }
  return { registry, services: [...services], files };
}

/** A file and everything it imports, encoded, the file first. */
function withDependencies(file: DescFile): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dep of f.dependencies) visit(dep);
  };
  visit(file);
  return out;
}

/** The served file that defines `symbol` (a message, enum, service or method), if any. */
function fileOfSymbol(index: Index, symbol: string): DescFile | undefined {
  const direct = index.registry.get(symbol);
  const owner = direct ?? index.registry.getService(symbol.slice(0, Math.max(0, symbol.lastIndexOf("."))));
  const file = owner && "file" in owner ? owner.file : undefined;
  return file && index.files.has(file.name) ? file : undefined;
}

type Request = { host: string; messageRequest: { case: string | undefined; value?: unknown } };

function answer(index: Index, req: Request): Record<string, unknown> {
  const r = req.messageRequest;
  const error = (message: string) => ({ case: "errorResponse", value: { errorCode: NOT_FOUND, errorMessage: message } });
  const files = (file: DescFile | undefined, what: string) => (file ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } } : error(`${what} not found`));
  switch (r.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index.files.get(r.value as string), `file ${String(r.value)}`);
    case "fileContainingSymbol":
      return files(fileOfSymbol(index, r.value as string), `symbol ${String(r.value)}`);
    case "allExtensionNumbersOfType": {
      const type = index.registry.getMessage(r.value as string);
      return type && index.files.has(type.file.name) ? { case: "allExtensionNumbersResponse", value: { baseTypeName: type.typeName, extensionNumber: [] } } : error(`type ${String(r.value)} not found`);
    }
    default:
      // No served file declares an extension.
      return error("no extension found");
  }
}

/** One reflection service (`pkg` is grpc.reflection.v1 or grpc.reflection.v1alpha) answering from `index`. */
function addReflection(server: Server, index: Index, pkg: string): void {
  const requestType = index.registry.getMessage(`${pkg}.ServerReflectionRequest`) as DescMessage;
  const responseType = index.registry.getMessage(`${pkg}.ServerReflectionResponse`) as DescMessage;
  const definition: ServiceDefinition = {
    ServerReflectionInfo: {
      path: `/${pkg}.ServerReflection/ServerReflectionInfo`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (m: unknown) => Buffer.from(toBinary(requestType, m as never)),
      requestDeserialize: (b: Buffer) => fromBinary(requestType, b),
      responseSerialize: (m: unknown) => Buffer.from(toBinary(responseType, m as never)),
      responseDeserialize: (b: Buffer) => fromBinary(responseType, b),
    },
  };
  server.addService(definition, {
    ServerReflectionInfo: (call: ServerDuplexStream<Request, unknown>) => {
      call.on("data", (req: Request) => {
        call.write(create(responseType, { validHost: req.host, originalRequest: req, messageResponse: answer(index, req) } as never));
      });
      call.on("end", () => call.end());
      call.on("error", () => undefined);
    },
  });
}

/** Serves reflection for `services` (plus the reflection services themselves) on `server`. */
export function addReflectionService(server: Server, services: readonly string[]): void {
  const index = indexFor([...services, "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);
  addReflection(server, index, "grpc.reflection.v1");
  addReflection(server, index, "grpc.reflection.v1alpha");
}
