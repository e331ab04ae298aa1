/**
 * Conformance scenarios that run the same whether the CLI runs on the controller's host or on an
 * executor agent: conformance.ts (local) and remote-conformance.ts (remote) both call them.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { expect } from "vitest";
import { ApprovalDecision, PermissionMode, type Event, type LaneName, type RunOptions, type StreamRunResponse } from "@asm/shared";
import type { AnyModelMock } from "../mock-models/index.js";
import { call, collectEvents, waitForEvent, type Client } from "../helpers/grpc-client.js";
import { allGone } from "../helpers/test-controller.js";
import type { ProviderHarness } from "./provider-harness.js";

export const terminalError = (events: Event[]) => {
  const last = events.at(-1)!;
  return last.payload?.$case === "error" ? last.payload.value.error : undefined;
};
export const pidOf = (events: Event[]) => events.flatMap((e) => (e.payload?.$case === "runStarted" ? [e.payload.value.pid] : []))[0]!;
export const approvalIdOf = (e: Event) => (e.payload?.$case === "approvalRequested" ? e.payload.value.approvalId : "");

/** What a scenario needs from its suite (read when the scenario runs, after beforeAll). */
export interface ScenarioContext {
  h: ProviderHarness;
  /** The lane the suite runs on. */
  lane: LaneName;
  /** Whether its runs stream text deltas (not `codex exec`, on either lane: agent text comes whole). */
  textDeltas: boolean;
  client(): Client;
  mock(): AnyModelMock;
  /** The CLI's working directory, as the test process sees it. */
  work(): string;
  session(defaults?: Partial<RunOptions>): Promise<string>;
  stream(sessionId: string, prompt: string): ClientReadableStream<StreamRunResponse>;
}

/** The CLI asks to run a tool; the client allows it; the tool's side effect exists. */
export async function approvalAllowed(ctx: ScenarioContext, file: string): Promise<void> {
  const sessionId = await ctx.session({ permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT });
  const s = ctx.stream(sessionId, `make a file [[reply:tool:touch ${file}]]`);
  const all = collectEvents(s);
  const request = await waitForEvent(s, (e) => e.payload?.$case === "approvalRequested");
  await call(ctx.client(), "approve", { sessionId, approvalId: approvalIdOf(request), decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
  const events = await all;
  expect(events.at(-1)!.payload?.$case).toBe("result");
  expect(existsSync(join(ctx.work(), file))).toBe(true);
}

/**
 * The client denies the tool: no side effect, and the model's next turn gets, as the tool's
 * result, what the CLI says of a denied tool (the reason, where its protocol carries one).
 */
export async function approvalDenied(ctx: ScenarioContext, file: string): Promise<void> {
  const sessionId = await ctx.session({ permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT });
  const from = ctx.mock().turns.length;
  const s = ctx.stream(sessionId, `make a file [[reply:tool:touch ${file}]]`);
  const all = collectEvents(s);
  const request = await waitForEvent(s, (e) => e.payload?.$case === "approvalRequested");
  await call(ctx.client(), "approve", { sessionId, approvalId: approvalIdOf(request), decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "not allowed by policy" });
  const events = await all;
  // The turn after the tool call: its last user-side item is the tool's result as the model saw it.
  const told = ctx.mock().turns.slice(from)[1]?.view.last;
  expect(told?.kind).toBe("tool_result");
  expect(told?.kind === "tool_result" ? told.output : "").toMatch(ctx.h.deniedToolOutput("not allowed by policy"));
  expect(events.at(-1)!.payload?.$case).toBe("result");
  expect(existsSync(join(ctx.work(), file))).toBe(false);
}

/** Interrupt while the model streams: user_cancelled, the CLI gone, the model call closed early. */
export async function interruptWhileStreaming(ctx: ScenarioContext): Promise<void> {
  const sessionId = await ctx.session();
  const from = ctx.mock().requests.length;
  const s = ctx.stream(sessionId, "stream slowly [[reply:slow:50:100]]");
  const all = collectEvents(s);
  const during = await midStream(ctx, s, from);
  const res = await call(ctx.client(), "interrupt", { runId: during.runId });
  expect(res.outcome).toBe(2);
  const events = await all;
  expect(terminalError(events)?.kind).toBe("user_cancelled");
  expect(await allGone([pidOf(events)])).toBe(true);
  await expect.poll(() => ctx.mock().requests.slice(from)[0]?.clientClosedEarly, { timeout: 5000 }).toBe(true);
}

/**
 * Waits until the model is streaming its answer: the first text delta; where the lane streams no
 * text deltas (the Codex SDK gives agent text whole, at the item's end), its run_started and the
 * model request in flight. Returns that event.
 */
export async function midStream(ctx: ScenarioContext, s: ClientReadableStream<StreamRunResponse>, requestsBefore: number, runStarted?: Event): Promise<Event> {
  if (ctx.textDeltas) return waitForEvent(s, (e) => e.payload?.$case === "assistantDelta");
  const started = runStarted ?? (await waitForEvent(s, (e) => e.payload?.$case === "runStarted"));
  await expect.poll(() => ctx.mock().requests.length > requestsBefore, { timeout: 10_000 }).toBe(true);
  return started;
}
