import { kindOf, ulid, type Event, type EventPayload, type LaneResolution, type Observability } from "@asm/shared";

/** The authoritative observability metadata of a run, from its lane resolution. */
export function observabilityOf(r: LaneResolution, provider: string, executor = "", surface: SurfaceShown = LOCAL_SURFACE_SHOWN): Observability {
  return {
    requestedLane: r.requestedLane,
    preferredLane: r.preferredLane,
    lane: r.lane,
    backend: r.backend,
    executionMode: r.executionMode,
    laneReason: r.laneReason,
    laneFallbackReason: r.laneFallbackReason,
    sdkRuntime: r.sdkRuntime,
    sdkAvailable: r.sdkAvailable,
    capabilities: [...r.capabilities],
    executor,
    provider,
    sdkVersion: r.sdkVersion,
    executionSurface: surface.kind,
    surfaceTarget: surface.target,
  };
}

/** How a run's execution surface shows in its metadata. */
export interface SurfaceShown {
  kind: string;
  target: string;
}

export const LOCAL_SURFACE_SHOWN: SurfaceShown = Object.freeze({ kind: "local_subprocess", target: "" });

/** An event of a run as the controller keeps it: a new id, the given sequence, the time now. */
export function stampEvent(run: { runId: string; sessionId: string; provider: string; metadata: Observability }, sequence: number, providerSessionId: string, p: EventPayload): Event {
  return {
    id: `evt_${ulid()}`,
    runId: run.runId,
    sessionId: run.sessionId,
    sequence,
    timestamp: new Date(),
    provider: run.provider,
    kind: kindOf(p),
    providerSessionId,
    metadata: run.metadata,
    payload: p,
  };
}
