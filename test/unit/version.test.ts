import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ASM_VERSION } from "@asm/shared";

describe("ASM_VERSION", () => {
  it("equals the root package.json version and every workspace's version", () => {
    const root = join(import.meta.dirname, "..", "..");
    for (const pkg of ["package.json", "shared/package.json", "controller/package.json", "executor-agent/package.json"]) {
      const { version } = JSON.parse(readFileSync(join(root, pkg), "utf8")) as { version: string };
      expect(version, pkg).toBe(ASM_VERSION);
    }
  });
});
