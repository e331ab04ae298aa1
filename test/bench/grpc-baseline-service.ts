/** The baseline server's extra method (see grpc-baseline-server.ts), shared by server and client. */
import type { ServiceDefinition } from "@grpc/grpc-js";
import { EventBatch, StreamRunRequest } from "@asm/shared";

/** An out-of-band server-streaming method: StreamRunRequest in, EventBatch messages out. */
export const BATCHES: ServiceDefinition = {
  streamBatches: {
    path: "/asm.bench.Baseline/StreamBatches",
    requestStream: false,
    responseStream: true,
    requestSerialize: (v: StreamRunRequest) => Buffer.from(StreamRunRequest.encode(v).finish()),
    requestDeserialize: (b: Buffer) => StreamRunRequest.decode(b),
    responseSerialize: (v: EventBatch) => Buffer.from(EventBatch.encode(v).finish()),
    responseDeserialize: (b: Buffer) => EventBatch.decode(b),
  },
};

