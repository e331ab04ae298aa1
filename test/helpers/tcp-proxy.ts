import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  port: number;
  address: string;
  /** Stops forwarding in both directions without closing anything: a silent partition. */
  cut(): void;
  /** Closes every connection at once (both ends see the TCP connection go); new ones are forwarded. */
  drop(): void;
  /** Closes every connection and stops listening for `downMs`, then listens again on the same port. */
  restartListener(downMs: number): Promise<void>;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `target` that can be made to stop forwarding (a link cut mid-run). */
export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  const silence = (socket: Socket): void => {
    socket.unpipe();
    socket.pause();
    socket.removeAllListeners("data");
  };
  const server: Server = createServer((client) => handle(client));
  const handle = (client: Socket): void => {
    sockets.add(client);
    client.on("error", () => undefined);
    client.on("close", () => sockets.delete(client));
    if (cut) {
      silence(client);
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(upstream);
    upstream.on("error", () => client.destroy());
    upstream.on("close", () => sockets.delete(upstream));
    client.on("close", () => {
      if (!cut) upstream.destroy();
    });
    upstream.on("close", () => {
      if (!cut) client.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const dropAll = (): void => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port,
    address: `127.0.0.1:${port}`,
    cut: () => {
      cut = true;
      for (const s of sockets) silence(s);
    },
    drop: dropAll,
    restartListener: async (downMs) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      dropAll();
      await closed;
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
