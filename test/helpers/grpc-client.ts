import { credentials, type ChannelOptions, type ClientReadableStream, type Metadata, type ServiceError } from "@grpc/grpc-js";
import { ControllerServiceClient, fromGrpcError, type AsmError, type ControllerServiceService, type Event } from "@asm/shared";

export type Client = ControllerServiceClient;

export function connectInsecure(port: number, options: ChannelOptions = {}): Client {
  return new ControllerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), options);
}

/** Names of the unary methods of the API, with their request and response types. */
type Definition = typeof ControllerServiceService;
type UnaryName = { [K in keyof Definition]: Definition[K]["responseStream"] extends false ? K : never }[keyof Definition];
type RequestOf<K extends UnaryName> = ReturnType<Definition[K]["requestDeserialize"]>;
type ResponseOf<K extends UnaryName> = ReturnType<Definition[K]["responseDeserialize"]>;
type AnyUnary = (request: unknown, callback: (err: ServiceError | null, res: unknown) => void) => unknown;

/** Calls a unary method by name and resolves with its response (rejects with the ServiceError). */
export function call<K extends UnaryName>(client: Client, method: K, request: RequestOf<K>): Promise<ResponseOf<K>> {
  const fn = (client as unknown as Record<string, AnyUnary>)[method]!;
  return new Promise((resolve, reject) => {
    fn.call(client, request, (err, res) => (err ? reject(err) : resolve(res as ResponseOf<K>)));
  });
}

/** Calls a unary method expecting failure; resolves with the status code and the typed error. */
export async function callError<K extends UnaryName>(client: Client, method: K, request: RequestOf<K>): Promise<{ code: number; error: AsmError; details: string }> {
  try {
    await call(client, method, request);
  } catch (err) {
    const e = err as ServiceError & { metadata: Metadata };
    return { code: e.code, error: fromGrpcError(e), details: e.details };
  }
  throw new Error("the call succeeded but was expected to fail");
}

/** A StreamRun / WatchRun message: one event, or (batched) `events`. */
export type EventMessage = { event?: Event; events?: Event[] };

/**
 * The events of one message. Fails the test on a message that breaks the contract: both forms at
 * once, or no event at all.
 */
export function eventsOf(m: EventMessage): Event[] {
  const batch = m.events ?? [];
  if (m.event && batch.length > 0) throw new Error(`a message carried both event (sequence ${m.event.sequence}) and ${batch.length} batched events`);
  if (m.event) return [m.event];
  if (batch.length === 0) throw new Error("a message carried no event");
  return batch;
}

/** Reads a server stream of event messages (either form) to its end. */
export function collectEvents(stream: ClientReadableStream<EventMessage>): Promise<Event[]> {
  return new Promise((resolve, reject) => {
    const events: Event[] = [];
    stream.on("data", (m: EventMessage) => {
      try {
        events.push(...eventsOf(m));
      } catch (err) {
        stream.cancel();
        reject(err);
      }
    });
    stream.on("error", reject);
    stream.on("end", () => resolve(events));
  });
}

/** Resolves with the first event that satisfies `predicate` on a live stream (keeps collecting). */
export function waitForEvent(stream: ClientReadableStream<EventMessage>, predicate: (e: Event) => boolean): Promise<Event> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const onData = (m: EventMessage): void => {
      for (const event of eventsOf(m)) {
        seen.push(JSON.stringify(event.payload).slice(0, 300));
        if (predicate(event)) {
          stream.off("data", onData);
          resolve(event);
          return;
        }
      }
    };
    stream.on("data", onData);
    stream.on("error", reject);
    stream.on("end", () => reject(new Error(`stream ended before the expected event; saw:\n${seen.join("\n")}`)));
  });
}
