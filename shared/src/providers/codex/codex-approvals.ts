/** The questions `codex app-server` asks asm (tool approvals), what asm shows of them, and its answers. */
import type { z } from "zod";
import { newId } from "../../ids/ulid.js";
import { rpcIdKey, type RpcId } from "../protocol/json-rpc.js";
import * as L from "./codex-lines.js";

/** The app-server requests that are tool approvals: v2 (`item/*`) and the legacy v1 ones. */
export type ApprovalMethod = "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" | "execCommandApproval" | "applyPatchApproval";

/** What an approval request shows: `approval_requested`'s subject, tool call and details. */
export interface ApprovalAsked {
  method: ApprovalMethod;
  subject: "command" | "file_change";
  toolCallId: string;
  details: Record<string, unknown>;
}

/**
 * Reads an approval request: what it asks, or "unreadable" when its params do not parse, or
 * undefined when the method is not an approval at all. File changes of v2 requests come from the
 * item already announced (`fileChanges`, by item id).
 */
export function readApprovalRequest(method: string, params: unknown, fileChanges: ReadonlyMap<string, z.infer<typeof L.FileUpdateChange>[]>): ApprovalAsked | "unreadable" | undefined {
  switch (method) {
    case "item/commandExecution/requestApproval": {
      const p = L.CommandApprovalParams.safeParse(params);
      if (!p.success) return "unreadable";
      const { itemId, command, cwd, reason, commandActions, kind } = p.data;
      return {
        method,
        subject: "command",
        toolCallId: itemId,
        details: { command: command ?? "", cwd: cwd ?? "", reason: reason ?? "", kind: kind ?? "command", command_actions: commandActions ?? [], tool_input: { command: command ?? "", cwd: cwd ?? "" } },
      };
    }
    case "item/fileChange/requestApproval": {
      const p = L.FileChangeApprovalParams.safeParse(params);
      if (!p.success) return "unreadable";
      const changes = fileChanges.get(p.data.itemId) ?? [];
      return { method, subject: "file_change", toolCallId: p.data.itemId, details: { changes, reason: p.data.reason ?? "", grant_root: p.data.grantRoot ?? "", tool_input: { changes } } };
    }
    case "execCommandApproval": {
      const p = L.ExecCommandApprovalParams.safeParse(params);
      if (!p.success) return "unreadable";
      const command = p.data.command.join(" ");
      return { method, subject: "command", toolCallId: p.data.callId, details: { command, argv: p.data.command, cwd: p.data.cwd ?? "", reason: p.data.reason ?? "", tool_input: { command, cwd: p.data.cwd ?? "" } } };
    }
    case "applyPatchApproval": {
      const p = L.ApplyPatchApprovalParams.safeParse(params);
      if (!p.success) return "unreadable";
      const fileChangesOfPatch = p.data.fileChanges ?? {};
      return { method, subject: "file_change", toolCallId: p.data.callId, details: { file_changes: fileChangesOfPatch, reason: p.data.reason ?? "", grant_root: p.data.grantRoot ?? "", tool_input: { file_changes: fileChangesOfPatch } } };
    }
    default:
      return undefined;
  }
}

/** The `result` that answers an approval: v2 decline lets the turn go on (the model sees the rejection); v1 has its own vocabulary. */
export function approvalDecision(method: ApprovalMethod, allow: boolean, reason: string): unknown {
  const legacy = method === "execCommandApproval" || method === "applyPatchApproval";
  return { decision: legacy ? (allow ? "approved" : { denied: { rejection: reason || "denied by user" } }) : allow ? "accept" : "decline" };
}

interface Open {
  rpcId: RpcId;
  method: ApprovalMethod;
}

/** The approvals a run has open, by asm's approval id and by the CLI's request id. */
export class OpenApprovals {
  private readonly byId = new Map<string, Open>();
  private readonly byRpc = new Map<string, string>();

  /** Records a question of the CLI's; returns asm's approval id for it. */
  open(rpcId: RpcId, method: ApprovalMethod): string {
    const approvalId = newId("apr");
    this.byId.set(approvalId, { rpcId, method });
    this.byRpc.set(rpcIdKey(rpcId), approvalId);
    return approvalId;
  }

  /** The approval id of the CLI's request `rpcId`, if it is open. */
  ofRequest(rpcId: RpcId): string | undefined {
    return this.byRpc.get(rpcIdKey(rpcId));
  }

  /** Closes an approval; what it was, or undefined when it was not open. */
  close(approvalId: string): Open | undefined {
    const open = this.byId.get(approvalId);
    if (!open) return undefined;
    this.byId.delete(approvalId);
    this.byRpc.delete(rpcIdKey(open.rpcId));
    return open;
  }

  /** Closes every open approval; their ids. */
  closeAll(): string[] {
    const ids = [...this.byId.keys()];
    for (const id of ids) this.close(id);
    return ids;
  }
}
