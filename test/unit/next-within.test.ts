import { on } from "node:events";
import { createServer, connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { nextWithin } from "../../controller/src/remote/next-within.js";

/** A connected pair of loopback sockets: what the test writes on `server` is read from `client`. */
async function socketPair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const port = (listener.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => listener.once("connection", resolve));
  const client = connect(port, "127.0.0.1");
  await new Promise<void>((resolve) => client.once("connect", resolve));
  const server = await accepted;
  return { server, client, close: () => (client.destroy(), server.destroy(), listener.close()) };
}

function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("the heartbeat bound judges silence only after reading what arrived", () => {
  it("a message that arrived while the event loop was blocked past the bound is taken, not called silence", async () => {
    const { server, client, close } = await socketPair();
    try {
      const messages = on(client, "data")[Symbol.asyncIterator]();
      const next = nextWithin(messages, 50, () => new Error("silent"));
      server.write("x");
      // The loop is stuck past the bound with the message in the socket: timer and data are due together.
      blockEventLoop(200);
      const got = await next;
      expect(got.done).toBe(false);
      expect(String((got.value as Buffer[])[0])).toBe("x");
    } finally {
      close();
    }
  });

  it("a real silence fails with the caller's error", async () => {
    const { client, close } = await socketPair();
    try {
      await expect(nextWithin(on(client, "data")[Symbol.asyncIterator](), 30, () => new Error("no message for 30 ms"))).rejects.toThrow("no message for 30 ms");
    } finally {
      close();
    }
  });
});
