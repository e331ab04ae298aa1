import type { handleServerStreamingCall, handleUnaryCall, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { AsmError, principalOf, toGrpcStatus, type Logger, type Principal } from "@asm/shared";

/**
 * Every handler goes through these adapters: they await the async body, always complete the call,
 * and translate errors in one place (`toGrpcStatus`). grpc-js ignores returned promises, so an
 * unwrapped async handler would leak rejections. The body gets the caller the service's guard
 * authenticated (see `guardService`).
 */
export function unary<Req, Res>(logger: Logger, method: string, body: (request: Req, caller: Principal, call: ServerUnaryCall<Req, Res>) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => body(call.request, principalOf(call), call))
      .then(
      (response) => callback(null, response),
      (err: unknown) => {
        logFailure(logger, method, err);
        callback(toGrpcStatus(err));
      },
    );
  };
}

/**
 * Server streaming: the body is an async iterable of responses; each write respects backpressure.
 * The signal aborts when the client cancels or the call closes; the body must stop then.
 */
export function serverStream<Req, Res>(
  logger: Logger,
  method: string,
  body: (request: Req, caller: Principal, signal: AbortSignal, call: ServerWritableStream<Req, Res>) => AsyncIterable<Res>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const abort = new AbortController();
    const onGone = (): void => abort.abort();
    call.on("cancelled", onGone);
    call.on("close", onGone);
    call.on("error", onGone);
    void (async () => {
      try {
        for await (const message of body(call.request, principalOf(call), abort.signal, call)) {
          if (abort.signal.aborted) break;
          if (!call.write(message)) await drained(call, abort.signal);
        }
        if (!abort.signal.aborted) call.end();
      } catch (err) {
        logFailure(logger, method, err);
        if (!abort.signal.aborted) call.emit("error", toGrpcStatus(err));
      } finally {
        call.off("cancelled", onGone);
        call.off("close", onGone);
      }
    })();
  };
}

function drained(call: ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function logFailure(logger: Logger, method: string, err: unknown): void {
  const error = AsmError.from(err);
  if (error.kind === "internal") logger.error({ err, method }, "call failed");
  else logger.debug({ method, kind: error.kind, reason: error.reasonCode, field: error.field }, "call refused");
}
