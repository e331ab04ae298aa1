import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsmError } from "@asm/shared";
import { confineCwd, prepareWorkspace } from "../../executor-agent/src/workspace/workspace-root.js";

let scratch: string;
let root: string;
let outside: string;

beforeAll(() => {
  scratch = realpathSync(mkdtempSync(join(tmpdir(), "asm-ws-")));
  root = join(scratch, "ws");
  outside = join(scratch, "outside");
  mkdirSync(join(root, "project", "src"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, "notes.txt"), "not a directory");
  symlinkSync(outside, join(root, "link-out"));
  symlinkSync(join(root, "project"), join(root, "link-in"));
  symlinkSync("../outside", join(root, "relative-link-out"));
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function rejection(remoteCwd: string): AsmError {
  try {
    confineCwd(root, remoteCwd);
  } catch (err) {
    expect(err).toBeInstanceOf(AsmError);
    return err as AsmError;
  }
  throw new Error(`expected ${remoteCwd} to be refused`);
}

function expectOutside(remoteCwd: string): void {
  const err = rejection(remoteCwd);
  expect(err.kind).toBe("permission_denied");
  expect(err.field).toBe("driver_opts.remote_cwd");
  expect(err.reasonCode).toBe("remote_cwd_outside_workspace");
  expect(err.details?.rule).toBe("workspace_root");
}

function expectNotFound(remoteCwd: string): void {
  const err = rejection(remoteCwd);
  expect(err.kind).toBe("config_invalid");
  expect(err.field).toBe("driver_opts.remote_cwd");
  expect(err.reasonCode).toBe("remote_cwd_not_found");
}

describe("confineCwd", () => {
  it("uses the root when no remote_cwd is given", () => {
    expect(confineCwd(root, undefined)).toBe(root);
    expect(confineCwd(root, "")).toBe(root);
  });

  it("resolves relative paths against the root and accepts absolute paths inside it", () => {
    expect(confineCwd(root, "project")).toBe(join(root, "project"));
    expect(confineCwd(root, "project/src/..")).toBe(join(root, "project"));
    expect(confineCwd(root, "./project/src")).toBe(join(root, "project", "src"));
    expect(confineCwd(root, join(root, "project", "src"))).toBe(join(root, "project", "src"));
    expect(confineCwd(root, `${root}/`)).toBe(root);
  });

  it("follows symlinks that stay inside the workspace", () => {
    expect(confineCwd(root, "link-in")).toBe(join(root, "project"));
    expect(confineCwd(root, "link-in/src")).toBe(join(root, "project", "src"));
  });

  it("refuses .. escapes", () => {
    expectOutside("..");
    expectOutside("../outside");
    expectOutside("project/../../outside");
    expectOutside("../ws-sibling-does-not-exist");
  });

  it("refuses absolute paths elsewhere, including a sibling sharing the root's name as prefix", () => {
    expectOutside(outside);
    expectOutside("/");
    expectOutside("/etc");
    mkdirSync(`${root}-evil`, { recursive: true });
    expectOutside(`${root}-evil`);
  });

  it("refuses symlinks pointing out, also below a missing path", () => {
    expectOutside("link-out");
    expectOutside("relative-link-out");
    expectOutside(join(root, "link-out"));
    expectOutside("link-out/missing/deeper");
  });

  it("reports a missing path or a file as not found", () => {
    expectNotFound("missing");
    expectNotFound("project/missing/deeper");
    expectNotFound("notes.txt");
    expectNotFound("notes.txt/sub");
  });
});

describe("prepareWorkspace", () => {
  it("creates the root, reports its real path and that it is writable, leaving no probe behind", () => {
    const fresh = join(scratch, "fresh", "a", "b");
    const state = prepareWorkspace(fresh);
    expect(state).toEqual({ root: fresh, writable: true });
    expect(readdirSync(fresh)).toEqual([]);
  });

  it("reports the real path when the root is reached through a symlink", () => {
    symlinkSync(root, join(scratch, "ws-link"));
    expect(prepareWorkspace(join(scratch, "ws-link"))).toEqual({ root, writable: true });
  });

  it("reports a root that cannot be created (its parent is a regular file) as not writable", () => {
    const state = prepareWorkspace(join(root, "notes.txt", "ws"));
    expect(state.writable).toBe(false);
    expect(state.root).toBe(join(root, "notes.txt", "ws"));
    expect(state.error).toMatch(/cannot create workspace/);
  });

  it("reports a root that is a regular file as not writable", () => {
    const state = prepareWorkspace(join(root, "notes.txt"));
    expect(state.writable).toBe(false);
    expect(state.error).toBeTruthy();
  });
});
