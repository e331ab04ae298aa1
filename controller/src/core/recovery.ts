import { AsmError, ApprovalDecision, decodeEvent, emptyProjection, encodeEventBody, encodeRunFields, foldEvent, isTerminal, payload, type Event, type EventPayload } from "@asm/shared";
import { observabilityOf, stampEvent } from "../runs/run-metadata.js";
import type { ControllerStore, RunRecord, StoredEvent } from "../store/store.js";

/** Every kept event of a run, in order, read from the store a page at a time. */
export async function* keptEvents(store: ControllerStore, runId: string): AsyncGenerator<StoredEvent> {
  for (let after = 0; ; ) {
    const page = await store.readEvents(runId, after, 1024);
    if (page.length === 0) return;
    yield* page;
    after = page.at(-1)!.sequence;
  }
}

/**
 * A run that was queued or running on this controller's host when the controller stopped: its CLI
 * went with the controller (the orphan reaper kills it), so the run ends now, after its kept
 * events, with transport_error / controller_restarted. Approvals it waited on are closed first
 * (deny, "controller_restarted"). The events and the ended record are queued on the store.
 */
export async function endInterruptedRun(store: ControllerStore, record: RunRecord, maxResultTextBytes: number): Promise<RunRecord> {
  const metadata = observabilityOf(record.resolution, record.provider, record.executor, record.surface);
  const runFields = encodeRunFields({ runId: record.runId, sessionId: record.sessionId, provider: record.provider, metadata });
  const projection = emptyProjection(maxResultTextBytes);
  const open = new Set<string>();
  let last: Event | undefined;
  let bytes = runFields.length;
  for await (const stored of keptEvents(store, record.runId)) {
    const event = decodeEvent(stored.body, runFields);
    foldEvent(projection, event);
    bytes += stored.body.length;
    const p = event.payload;
    if (p?.$case === "approvalRequested") open.add(p.value.approvalId);
    else if (p?.$case === "approvalResolved") open.delete(p.value.approvalId);
    last = event;
  }
  let sequence = last?.sequence ?? 0;
  const add = (p: EventPayload): void => {
    sequence += 1;
    const event = stampEvent({ ...record, metadata }, sequence, last?.providerSessionId ?? "", p);
    const body = encodeEventBody(event);
    store.appendEvent(record.runId, { sequence, body, sourceSequence: 0 });
    foldEvent(projection, event);
    bytes += body.length;
  };
  if (!last || !isTerminal(last)) {
    for (const approvalId of open) add(payload("approvalResolved", { approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "controller_restarted" }));
    const where = record.phase === "queued" ? "while the run waited in the queue of a session that is closed now" : "while the run was running on its host (its CLI was stopped with the controller)";
    const error = new AsmError({ reasonCode: "controller_restarted", provider: record.provider, message: `run ${record.runId}: the controller stopped ${where}` });
    add(payload("error", { error: error.toMessage() }));
  }
  const ended: RunRecord = { ...record, phase: "ended", endedAt: Date.now(), result: { ...projection.result }, lastSequence: sequence, bytes };
  store.putRun(ended);
  return ended;
}
