import { connect, createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";

/** Attempts a TCP connection; resolves with the error code, or "connected". */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve("timeout");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
  });
}

/** A loopback port that something listens on (while `fn` runs) or, with `listen: false`, a port just freed. */
async function withLoopbackPort<T>(listen: boolean, fn: (port: number) => Promise<T>): Promise<T> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  if (!listen) await new Promise((resolve) => server.close(resolve));
  try {
    return await fn(port);
  } finally {
    if (listen) await new Promise((resolve) => server.close(resolve));
  }
}

// test/run-isolated.sh sets ASM_TEST_NETNS: "1" inside the loopback-only namespace it made, "0"
// when it could not make one (no root or unshare), and then said so on stderr. Unset: vitest was
// started without it (one file by hand), which is not isolated either.
const isolated = process.env.ASM_TEST_NETNS === "1";

describe("network isolation of the test run", () => {
  if (isolated) {
    it("the namespace has only the loopback interface", () => {
      expect(Object.keys(networkInterfaces())).toEqual(["lo"]);
    });

    it("nothing routes out of it", async () => {
      // 192.0.2.0/24 is TEST-NET-1, reserved and never routed anyway: nothing leaves the machine.
      expect(await tryConnect("192.0.2.1", 443)).toBe("ENETUNREACH");
    });
  } else {
    it("a run without a namespace is a developer machine that cannot make one, never CI", () => {
      expect(process.env.ASM_TEST_NETNS ?? "0").toBe("0");
      expect(process.env.CI ?? "").toBe("");
    });
  }

  it("loopback works: a listening port accepts", async () => {
    expect(await withLoopbackPort(true, (port) => tryConnect("127.0.0.1", port))).toBe("connected");
  });

  it("loopback works: a closed port refuses", async () => {
    expect(await withLoopbackPort(false, (port) => tryConnect("127.0.0.1", port))).toBe("ECONNREFUSED");
  });
});
