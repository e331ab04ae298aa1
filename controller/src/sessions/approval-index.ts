import type { Run } from "../runs/run.js";

/** Which run of a session owns each pending approval id. */
export class ApprovalIndex {
  private readonly owners = new Map<string, Run>();

  add(approvalId: string, run: Run): void {
    this.owners.set(approvalId, run);
  }

  remove(approvalId: string): void {
    this.owners.delete(approvalId);
  }

  ownerOf(approvalId: string): Run | undefined {
    return this.owners.get(approvalId);
  }

  get size(): number {
    return this.owners.size;
  }
}
