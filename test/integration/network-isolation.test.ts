import { connect } from "node:net";
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

describe("network isolation of the test run", () => {
  it("runs in a loopback-only network namespace (mandatory on CI)", async () => {
    if (process.env.ASM_TEST_NETNS !== "1") {
      // Without root/unshare (a developer machine) the run is not isolated; CI must be.
      expect(process.env.CI ?? "").toBe("");
      return;
    }
    // Only attempted inside the namespace, where there is no route at all: nothing leaves the
    // machine. 192.0.2.0/24 is TEST-NET-1, reserved and never routed anyway.
    expect(await tryConnect("192.0.2.1", 443)).toBe("ENETUNREACH");
  });

  it("loopback works", async () => {
    expect(["ECONNREFUSED", "connected"]).toContain(await tryConnect("127.0.0.1", 9));
  });
});
