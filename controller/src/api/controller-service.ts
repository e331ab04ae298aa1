import {
  ApprovalDecision,
  AsmError,
  InterruptOutcome,
  isAdmin,
  laneInfo,
  providerInfo,
  type ControllerServiceServer,
  type Logger,
  type StreamRunRequest,
  type StreamRunResponse,
  type WatchRunRequest,
  type WatchRunResponse,
  type ListSessionsResponse,
  Session as SessionMessage,
  parseSurface,
  type ExecutionSurface,
  type SurfaceSpec,
} from "@asm/shared";
import type { SessionRouter, SessionView } from "../cluster/session-router.js";
import type { Controller } from "../core/controller.js";
import type { ExecutorDirectory } from "../executors/executor-directory.js";
import { eventStreamMessages } from "./event-stream.js";
import { serverStream, unary } from "../server/handler-adapter.js";
import { observabilityOf } from "../runs/run-metadata.js";
import {
  executionModeFromProto,
  laneFromProto,
  providerFromProto,
  providerToProto,
  runOptionsFromProto,
  runToProto,
  sessionOptionsFromProto,
  sessionToProto,
} from "./proto-mapping.js";

const OUTCOME: Record<string, InterruptOutcome> = {
  removed_from_queue: InterruptOutcome.INTERRUPT_OUTCOME_REMOVED_FROM_QUEUE,
  interrupted: InterruptOutcome.INTERRUPT_OUTCOME_INTERRUPTED,
  already_finished: InterruptOutcome.INTERRUPT_OUTCOME_ALREADY_FINISHED,
};

/** `asm.v1.ControllerService`: translates calls to the controller (through the session router) and back. */
export function controllerService(controller: Controller, router: SessionRouter, executors: ExecutorDirectory, logger: Logger): ControllerServiceServer {
  const log = logger.child({ component: "api" });

  return {
    createSession: unary(log, "CreateSession", async (req, caller) => {
      const provider = providerFromProto(req.provider);
      const options = sessionOptionsFromProto(req.options);
      return { session: sessionToProto(await router.createSession(caller, provider, options, req.sessionId)) };
    }),

    getSession: unary(log, "GetSession", async (req, caller) => ({ session: sessionToProto(await router.getSession(req.sessionId, caller)) })),

    listSessions: unary(log, "ListSessions", async (req, caller) => {
      const size = Math.min(SESSION_PAGE_MAX, req.pageSize > 0 ? req.pageSize : SESSION_PAGE_DEFAULT);
      return sessionPage(await router.sessionsAfter(caller, req.includeClosed, req.pageToken, size + 1), size);
    }),

    closeSession: unary(log, "CloseSession", async (req, caller) => {
      const { session, interrupted, dropped } = await router.closeSession(req.sessionId, caller);
      return { session: sessionToProto(session), interruptedRunIds: interrupted, droppedRunIds: dropped };
    }),

    streamRun: serverStream<StreamRunRequest, StreamRunResponse | Buffer>(log, "StreamRun", async function* (req, caller, signal) {
      const overrides = runOptionsFromProto(req.overrides, "overrides");
      const run = await router.submitRun(caller, req.sessionId, req.prompt, overrides, req.runId);
      let completed = false;
      try {
        yield* eventStreamMessages(run.log, 0, { signal, primary: true, maxBatchEvents: req.maxBatchEvents });
        completed = run.log.ended;
      } finally {
        if (!completed && !req.keepRunning && !run.isEnded) {
          void router.interrupt(run.runId, caller, "client_cancelled", "the client cancelled the stream").catch(() => undefined);
        }
      }
    }),

    query: unary(log, "Query", async (req, caller, call) => {
      const signal = callSignal(call);
      const overrides = runOptionsFromProto(req.overrides, "overrides");
      if (req.sessionId) {
        const run = await router.submitRun(caller, req.sessionId, req.prompt, overrides, req.runId);
        return { result: await router.resultOf(run, caller, signal) };
      }
      const provider = providerFromProto(req.provider);
      const session = await router.createSession(caller, provider, sessionOptionsFromProto(req.sessionOptions, "session_options"), "");
      try {
        const run = await router.submitRun(caller, session.sessionId, req.prompt, overrides, req.runId);
        return { result: await router.resultOf(run, caller, signal) };
      } finally {
        await router.closeSession(session.sessionId, caller);
      }
    }),

    watchRun: serverStream<WatchRunRequest, WatchRunResponse | Buffer>(log, "WatchRun", async function* (req, caller, signal) {
      const run = await router.getRun(req.runId, caller);
      yield* eventStreamMessages(run.log, req.afterSequence, { signal, maxBatchEvents: req.maxBatchEvents });
    }),

    getRun: unary(log, "GetRun", async (req, caller) => ({ run: runToProto(await router.getRun(req.runId, caller)) })),

    interrupt: unary(log, "Interrupt", async (req, caller) => {
      const { outcome, status } = await router.interrupt(req.runId, caller);
      return { outcome: OUTCOME[outcome]!, status };
    }),

    approve: unary(log, "Approve", async (req, caller) => {
      if (req.decision !== ApprovalDecision.APPROVAL_DECISION_ALLOW && req.decision !== ApprovalDecision.APPROVAL_DECISION_DENY) {
        throw AsmError.configInvalid("decision", "decision must be ALLOW or DENY");
      }
      const runId = await router.approve(caller, req.sessionId, req.approvalId, req.decision === ApprovalDecision.APPROVAL_DECISION_ALLOW, req.reason);
      return { runId };
    }),

    getProviderInfo: unary(log, "GetProviderInfo", async (req) => {
      const provider = providerFromProto(req.provider);
      const info = providerInfo(provider, controller.sdkDiscovery);
      return {
        provider: providerToProto(provider),
        displayName: info.displayName,
        sdkRuntime: info.sdkRuntime,
        sdkAvailable: info.sdkAvailable,
        availableLanes: [...info.availableLanes],
        defaultLane: info.defaultLane,
        coreCapabilities: [...info.coreCapabilities],
        sdkCapabilities: [...info.sdkCapabilities],
        sdkVersion: info.sdkVersion,
      };
    }),

    getLaneInfo: unary(log, "GetLaneInfo", async (req) => {
      const provider = providerFromProto(req.provider);
      const info = laneInfo(provider, laneFromProto(req.lane) ?? "auto", controller.sdkDiscovery);
      const surface = controller.surfaceShown(surfaceFromProto(req.executionSurface), false);
      return {
        provider: providerToProto(provider),
        requestedLane: info.requestedLane,
        preferredLane: info.preferredLane,
        laneReason: info.laneReason,
        sdkAvailable: info.sdkAvailable,
        availableLanes: [...info.availableLanes],
        capabilities: [...info.capabilities],
        observability: {
          requestedLane: info.requestedLane,
          preferredLane: info.preferredLane,
          lane: "",
          backend: "",
          executionMode: "",
          laneReason: info.laneReason,
          laneFallbackReason: "",
          sdkRuntime: info.sdkRuntime,
          sdkAvailable: info.sdkAvailable,
          capabilities: [...info.capabilities],
          executor: "",
          provider,
          sdkVersion: info.sdkVersion,
          executionSurface: surface.kind,
          surfaceTarget: surface.target,
        },
      };
    }),

    resolveLane: unary(log, "ResolveLane", async (req) => {
      const provider = providerFromProto(req.provider);
      const mode = executionModeFromProto(req.executionMode) ?? "local";
      const resolution = controller.resolveLaneFor(provider, laneFromProto(req.lane) ?? "auto", mode);
      const surface = controller.surfaceShown(surfaceFromProto(req.executionSurface), mode === "remote_node");
      return { provider: providerToProto(provider), observability: observabilityOf(resolution, provider, "", surface) };
    }),

    // An operator's view (addresses, versions of every executor): admins only.
    listExecutors: unary(log, "ListExecutors", async (_req, caller) => {
      if (!isAdmin(caller)) throw new AsmError({ reasonCode: "admin_required", message: "ListExecutors is for principals with the admin role" });
      return { executors: executors.list() };
    }),
  };
}

/** `ListSessions` pages: the default and the largest `page_size`, and the bytes a page stays under. */
export const SESSION_PAGE_DEFAULT = 100;
export const SESSION_PAGE_MAX = 1000;
export const SESSION_PAGE_MAX_BYTES = 2 * 1024 * 1024;

/**
 * One page of sessions: up to `pageSize` of them, and fewer when the next one would take the
 * response past SESSION_PAGE_MAX_BYTES (a page holds at least one), so a response never passes
 * the message limits however large the sessions are.
 */
function sessionPage(sessions: Iterable<SessionView>, size: number): ListSessionsResponse {
  const page: SessionMessage[] = [];
  let bytes = 0;
  let last: SessionView | undefined;
  for (const session of sessions) {
    const message = sessionToProto(session);
    const length = SessionMessage.encode(message).finish().length + 6;
    if (page.length === size || (page.length > 0 && bytes + length > SESSION_PAGE_MAX_BYTES)) {
      return { sessions: page, nextPageToken: String(last!.ordinal) };
    }
    page.push(message);
    bytes += length;
    last = session;
  }
  return { sessions: page, nextPageToken: "" };
}

/** An AbortSignal that fires when a unary call is cancelled by its client. */
function callSignal(call: { on(event: "cancelled", cb: () => void): unknown; cancelled: boolean }): AbortSignal {
  const abort = new AbortController();
  if (call.cancelled) abort.abort();
  else call.on("cancelled", () => abort.abort());
  return abort.signal;
}

/** A request's execution_surface, validated as a run's would be. */
function surfaceFromProto(surface: ExecutionSurface | undefined): SurfaceSpec | undefined {
  return surface ? parseSurface({ kind: surface.kind, options: surface.options ?? {} }, "execution_surface") : undefined;
}
