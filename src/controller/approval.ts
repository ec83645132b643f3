/**
 * The controller's side of the create safeguard (the decisions are pure, in
 * src/reconcile/safeguard.ts): which approval a run uses, the gate it gives the
 * engine, and what the run leaves in status, events and metrics.
 *
 * Everything lives in the object: the approved digest in the truetask.io/approve
 * annotation, the held plan (digest, fingerprints, first rows) in
 * status.pendingApproval, the last applied approval in status.lastApproved and
 * the last annotation value acted on in status.lastHandledApproval. So a restart
 * or a leader change, even in the middle of an approved run, loses nothing: the
 * next leader finds the same approval and applies what is left of the plan.
 *
 * - A new annotation value runs at once (schedule.ts, trigger "approve").
 * - It approves when it equals status.pendingApproval.digest (and that plan was
 *   not applied already); the run then applies the reviewed changes still in the
 *   plan, and new ones only within the safeguard (else: a new pendingApproval).
 * - Any other value approves nothing: an ApprovalMismatch event says why, once per value.
 * - The held plan stays pending until a run gets past the safeguard; an approved
 *   run that left failures keeps it, so its retries are still approved.
 */
import { APPROVE_ANNOTATION, type AdSync } from '../api/adsync.ts';
import type { AdSyncStatus } from '../api/status.ts';
import type { RunReport } from '../reconcile/engine.ts';
import type { Plan } from '../reconcile/plan.ts';
import { gate, type Approved, type GateResult } from '../reconcile/safeguard.ts';
import { boundStatus } from './status-size.ts';
import { syncNowToken } from './sync-now.ts';
import { clip, plannedUsers, rfc3339, setConditions, setHealth } from './status.ts';

export interface ApprovalRequest {
  /** The annotation's value, when this run acts on it for the first time (status.lastHandledApproval). */
  newValue?: string;
  /** The held plan the annotation approves. */
  approved?: Approved;
  /** Why a new value approves nothing (an ApprovalMismatch event). */
  mismatch?: string;
}

export function approvalAnnotation(adsync: AdSync): string | undefined {
  const v = adsync.metadata.annotations?.[APPROVE_ANNOTATION]?.trim();
  // As status.lastHandledApproval records it: a value too long for the status by its hash (never a digest), so it cannot wedge the AdSync.
  return v ? syncNowToken(v) : undefined;
}

/** What the annotation means for the next run, from the object and the status the run starts from. */
export function approvalRequest(adsync: AdSync, status: AdSyncStatus): ApprovalRequest {
  const value = approvalAnnotation(adsync);
  if (value === undefined) return {};
  const isNew = value !== status.lastHandledApproval;
  const pending = status.pendingApproval;
  const out: ApprovalRequest = isNew ? { newValue: value } : {};
  if (pending && pending.digest === value && status.lastApproved?.digest !== value && adsync.spec.mode === 'Sync') {
    return { ...out, approved: { digest: pending.digest, ...(pending.changeSet ? { fingerprints: pending.changeSet } : {}) } };
  }
  if (!isNew) return out;
  const ns = adsync.metadata.namespace ?? 'default';
  const where = `kubectl get adsync ${adsync.metadata.name} -n ${ns} -o jsonpath='{.status.pendingApproval}'`;
  let why: string;
  if (status.lastApproved?.digest === value) why = `${APPROVE_ANNOTATION}=${value} was already applied at ${status.lastApproved.at}; nothing else is approved`;
  else if (adsync.spec.mode !== 'Sync') why = `${APPROVE_ANNOTATION}=${value} approves nothing: mode is Preview, which never writes`;
  else if (pending) why = `${APPROVE_ANNOTATION}=${value} is not the digest of the plan waiting for approval (${pending.digest}, made at ${pending.generatedAt}): the plan changed since it was reviewed, or the digest is mistyped. Nothing was approved; review the plan (${where}) and approve ${pending.digest}`;
  else why = `${APPROVE_ANNOTATION}=${value} approves nothing: no plan waits for approval (status.pendingApproval is empty)`;
  return { ...out, mismatch: why };
}

/** The Truetask users the directory's scope already has: a full run counts them; a changed-only run takes the last full run's directory users. */
export function usersInScope(plan: Plan, full: boolean, status: AdSyncStatus): number {
  return full ? plan.summary.unchanged + plan.summary.toPromote : (status.directory?.users ?? 0);
}

/** The engine's gate for a Sync run (src/reconcile/engine.ts). */
export function approvalGate(adsync: AdSync, status: AdSyncStatus, request: ApprovalRequest): (plan: Plan, full: boolean) => GateResult {
  return (plan, full) => gate({ changes: plan.changes, inScope: usersInScope(plan, full, status), limits: adsync.spec.safeguard, approved: request.approved });
}

/** True when the safeguard held every change: the run wrote nothing. */
export function heldEverything(report: RunReport): boolean {
  return report.gate?.held !== undefined && report.apply === undefined;
}

function approveHint(adsync: AdSync, digest: string): string {
  const ns = adsync.metadata.namespace ?? 'default';
  const name = adsync.metadata.name;
  return `review status.pendingApproval (every change: adsync preview ${ns}/${name}), then approve exactly this plan: kubectl annotate adsync ${name} -n ${ns} ${APPROVE_ANNOTATION}=${digest} --overwrite (or: adsync approve ${ns}/${name})`;
}

/** Status after a run, with what the safeguard and the approval did (status.ts computed the rest). */
export function statusWithApproval(adsync: AdSync, status: AdSyncStatus, request: ApprovalRequest, report: RunReport | undefined, now: Date): AdSyncStatus {
  const s: AdSyncStatus = { ...status };
  if (request.newValue !== undefined) s.lastHandledApproval = request.newValue;
  if (!report) return s; // a failed run: the pending plan (if any) still waits
  if (report.kind === 'preview') {
    delete s.pendingApproval;
    return s;
  }
  const g = report.gate;
  const a = report.apply;
  if (!g) return s;
  if (g.approval && a) {
    if (a.failed > 0 && !g.held) return s; // the approved plan is not done: its retries stay approved
    s.lastApproved = { digest: g.approval.digest, at: rfc3339(report.completedAt), exact: g.approval.exact, approvedChanges: g.approval.approvedChanges, newChanges: g.approval.newChanges, created: a.created, promoted: a.promoted };
  }
  if (!g.held) {
    delete s.pendingApproval;
    return s;
  }
  const held = g.held;
  const v = held.verdict;
  const toCreate = held.changes.filter((c) => c.kind === 'create').length;
  const wrote = a ? `Wrote only the approved changes (${a.created} created, ${a.promoted} promoted); these ${held.changes.length} new ones wait` : 'Nothing was written';
  const message = clip(`${v.message}. ${wrote}: ${approveHint(adsync, held.digest)}`);
  s.pendingApproval = {
    digest: held.digest,
    toCreate,
    toPromote: held.changes.length - toCreate,
    ...(v.allowedCreates !== undefined ? { allowedCreates: v.allowedCreates } : {}),
    inScope: v.inScope,
    ...(v.limitedBy ? { limitedBy: v.limitedBy } : {}),
    message,
    ...plannedUsers(held.changes),
    generatedAt: rfc3339(report.completedAt),
    ...(held.fingerprints !== undefined ? { changeSet: held.fingerprints } : {}),
  };
  if (a && s.preview) {
    // What is left to do: the failed changes and the held ones.
    const failed = new Set(a.failedEmails);
    const left = [...report.plan.changes.filter((c) => failed.has(c.email)), ...held.changes].sort((x, y) => (x.email < y.email ? -1 : x.email > y.email ? 1 : 0));
    const leftCreates = left.filter((c) => c.kind === 'create').length;
    s.preview = { ...s.preview, toCreate: leftCreates, toPromote: left.length - leftCreates, ...plannedUsers(left) };
  }
  if (!a || (a.result === 'Succeeded' && !a.abortedBy)) {
    const gen = adsync.metadata.generation;
    const conditions = setConditions(
      s.conditions,
      [
        { type: 'Ready', status: 'False', reason: 'ApprovalRequired', message },
        { type: 'Synced', status: 'False', reason: 'ApprovalRequired', message },
      ],
      gen,
      now,
    );
    s.conditions = setHealth(conditions, { kind: 'stalled', reason: 'ApprovalRequired', message }, gen, now);
  }
  // The held plan counts toward the status size bound (status-size.ts) like every other list.
  return boundStatus(s);
}

export interface ApprovalEvent {
  type: 'Normal' | 'Warning';
  reason: 'ApprovalRequired' | 'ApprovalMismatch' | 'Approved';
  message: string;
}

/** The events of a run about approval: a mismatch (once per annotation value), an applied approval, a held plan. */
export function approvalEvents(request: ApprovalRequest, report: RunReport | undefined, status: AdSyncStatus): ApprovalEvent[] {
  const out: ApprovalEvent[] = [];
  if (request.mismatch) out.push({ type: 'Warning', reason: 'ApprovalMismatch', message: request.mismatch });
  const g = report?.gate;
  const a = report?.apply;
  if (g?.approval && a) {
    const extra = g.approval.exact ? 'the plan was exactly the approved one' : `AD changed since: ${g.approval.approvedChanges} reviewed changes still valid, ${g.approval.newChanges} new ones within the safeguard`;
    out.push({ type: 'Normal', reason: 'Approved', message: `applied the approved plan ${g.approval.digest}: ${a.created} created, ${a.promoted} promoted, ${a.failed} failed (${extra})` });
  }
  if (g?.held && status.pendingApproval) out.push({ type: 'Warning', reason: 'ApprovalRequired', message: status.pendingApproval.message });
  return out;
}

/**
 * The pending-approval gauge's values from status (also after a restart or a leader change):
 * the held plan while the AdSync waits for it (Ready reason ApprovalRequired), else 0, so a
 * failure while a plan waits shows as a failure (TruetaskAdsyncFailing), not as a pending approval.
 */
export function pendingCounts(status: AdSyncStatus): { create: number; promote: number } {
  const p = status.pendingApproval;
  const waiting = status.conditions?.some((c) => c.type === 'Ready' && c.reason === 'ApprovalRequired') ?? false;
  return waiting && p ? { create: p.toCreate, promote: p.toPromote } : { create: 0, promote: 0 };
}
