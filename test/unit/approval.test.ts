import { describe, expect, it } from 'vitest';
import { adSyncSchema, type AdSync } from '../../src/api/adsync.ts';
import { adSyncStatusSchema, type AdSyncStatus } from '../../src/api/status.ts';
import { approvalEvents, approvalGate, approvalRequest, statusWithApproval } from '../../src/controller/approval.ts';
import { decide } from '../../src/controller/schedule.ts';
import { statusAfterRun } from '../../src/controller/status.ts';
import { objectState } from '../../src/controller/reconciler.ts';
import type { RunReport } from '../../src/reconcile/engine.ts';
import type { Plan, PlannedChange } from '../../src/reconcile/plan.ts';

const now = new Date('2026-11-25T10:00:05Z');
const adsync = (annotations: Record<string, string> = {}, mode: 'Preview' | 'Sync' = 'Sync', safeguard: Record<string, number> = {}): AdSync =>
  adSyncSchema.parse({
    apiVersion: 'truetask.io/v1alpha1',
    kind: 'AdSync',
    metadata: { name: 'corp', namespace: 'truetask', generation: 3, annotations },
    spec: {
      mode,
      safeguard,
      ldap: { url: 'ldaps://dc1:636', baseDN: 'DC=corp', bindDN: 'svc@corp', bindPasswordSecretRef: { name: 'ad-bind' } },
      truetask: { url: 'https://tt', tokenSecretRef: { name: 'tt' } },
    },
  });

const creates = (n: number, prefix = 'u'): PlannedChange[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'create' as const, email: `${prefix}${String(i).padStart(4, '0')}@corp.example.com`, name: `User ${i}`, role: 'user' as const, dns: [`CN=User ${i},DC=corp`] }));
const planOf = (changes: PlannedChange[], unchanged = 0): Plan => ({ rows: [], changes, summary: { directoryUsers: changes.length + unchanged, excluded: 0, skipped: 0, toCreate: changes.length, toPromote: 0, unchanged } });

/** A Sync run's report through the controller's gate, as the engine makes it (apply only when something passed). */
function syncRun(a: AdSync, status: AdSyncStatus, plan: Plan): RunReport {
  const g = approvalGate(a, status, approvalRequest(a, status))(plan, true);
  const base = { kind: 'sync' as const, full: true, startedAt: now, completedAt: now, directory: { users: plan.summary.directoryUsers, excluded: 0, skipped: 0, organizationalUnits: [], adminGroups: [] }, plan, gate: g };
  if (g.held && g.apply.length === 0) return base;
  const created = g.apply.length;
  return { ...base, apply: { created, promoted: 0, alreadyDone: 0, failed: 0, failures: [], failedEmails: [], result: 'Succeeded' } };
}
function after(a: AdSync, previous: AdSyncStatus, plan: Plan): { status: AdSyncStatus; report: RunReport } {
  const request = approvalRequest(a, previous);
  const report = syncRun(a, previous, plan);
  const status = statusWithApproval(a, statusAfterRun({ adsync: a, now, previous }, report), request, report, now);
  expect(adSyncStatusSchema.safeParse(status).success).toBe(true);
  return { status, report };
}
const cond = (s: AdSyncStatus, type: string) => s.conditions?.find((c) => c.type === type);

describe('approval in the controller', () => {
  it('a first sync bigger than the growth floor writes nothing: Ready=False ApprovalRequired, Stalled, pendingApproval with the digest', () => {
    const { status, report } = after(adsync(), {}, planOf(creates(267)));
    expect(report.apply).toBeUndefined();
    expect(cond(status, 'Ready')).toMatchObject({ status: 'False', reason: 'ApprovalRequired' });
    expect(cond(status, 'Synced')).toMatchObject({ status: 'False', reason: 'ApprovalRequired' });
    expect(cond(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'ApprovalRequired' });
    const p = status.pendingApproval!;
    expect(p).toMatchObject({ toCreate: 267, toPromote: 0, allowedCreates: 10, inScope: 0, limitedBy: 'maxGrowthPercent', truncated: true });
    expect(p.users).toHaveLength(100);
    expect(p.message).toContain(`truetask.io/approve=${p.digest}`);
    expect(status.preview?.toCreate).toBe(267);
    expect(status.lastSync).toBeUndefined();
    expect(approvalEvents(approvalRequest(adsync(), {}), report, status)).toEqual([{ type: 'Warning', reason: 'ApprovalRequired', message: p.message }]);
  });

  it('approving the digest applies it once; the same annotation does not approve a later plan with the same digest', () => {
    const plan = planOf(creates(50));
    const held = after(adsync(), {}, plan).status;
    const approved = adsync({ 'truetask.io/approve': held.pendingApproval!.digest });
    expect(decide(objectState(approved, held), undefined, now.getTime())).toMatchObject({ action: 'run', trigger: 'approve' });
    const { status, report } = after(approved, held, plan);
    expect(report.apply?.created).toBe(50);
    expect(status.pendingApproval).toBeUndefined();
    expect(status.lastApproved).toMatchObject({ digest: held.pendingApproval!.digest, exact: true, approvedChanges: 50, newChanges: 0, created: 50 });
    expect(status.lastHandledApproval).toBe(held.pendingApproval!.digest);
    expect(cond(status, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(status, 'Stalled')).toBeUndefined();
    expect(approvalEvents(approvalRequest(approved, held), report, status).map((e) => e.reason)).toEqual(['Approved']);
    // handled: no new run for the same value
    expect(decide(objectState(approved, { ...status, nextSyncAt: undefined }), undefined, now.getTime())).toEqual({ action: 'wait' });
    // the same 50 changes again (say the users were deleted by hand): held again, not approved by the old annotation
    const again = after(approved, status, plan).status;
    expect(cond(again, 'Ready')).toMatchObject({ reason: 'ApprovalRequired' });
  });

  it('a stale or wrong digest approves nothing, with an ApprovalMismatch reason once per value', () => {
    const held = after(adsync(), {}, planOf(creates(50))).status;
    const wrong = adsync({ 'truetask.io/approve': '0123456789abcdef' });
    const req = approvalRequest(wrong, held);
    expect(req.approved).toBeUndefined();
    expect(req.mismatch).toContain(`not the digest of the plan waiting for approval (${held.pendingApproval!.digest}`);
    const { status, report } = after(wrong, held, planOf(creates(50)));
    expect(report.apply).toBeUndefined();
    expect(status.pendingApproval?.digest).toBe(held.pendingApproval!.digest);
    expect(approvalEvents(req, report, status).map((e) => e.reason)).toEqual(['ApprovalMismatch', 'ApprovalRequired']);
    // handled once: the next run says nothing more about it
    expect(approvalRequest(wrong, status)).toEqual({});
    expect(approvalRequest(adsync({ 'truetask.io/approve': 'abc' }), {}).mismatch).toContain('no plan waits for approval');
  });

  it('AD changed during approval by more than the safeguard: the reviewed changes are applied, the new ones wait under a new digest', () => {
    const reviewed = creates(50);
    const held = after(adsync(), {}, planOf(reviewed)).status;
    const approved = adsync({ 'truetask.io/approve': held.pendingApproval!.digest });
    const { status, report } = after(approved, held, planOf([...reviewed, ...creates(11, 'new')]));
    expect(report.apply?.created).toBe(50);
    expect(status.pendingApproval).toMatchObject({ toCreate: 11 });
    expect(status.pendingApproval!.digest).not.toBe(held.pendingApproval!.digest);
    expect(status.lastApproved).toMatchObject({ exact: false, approvedChanges: 50, newChanges: 0 });
    expect(cond(status, 'Ready')).toMatchObject({ status: 'False', reason: 'ApprovalRequired' });
    expect(status.preview?.toCreate).toBe(11);
  });

  it('a changed-only run is held by the same rule, against the last full run\'s directory users', () => {
    const status: AdSyncStatus = { directory: { users: 200, excluded: 0, skipped: 0 } };
    const changedRun = (n: number) => approvalGate(adsync(), status, {})(planOf(creates(n)), false);
    expect(changedRun(20).held).toBeUndefined(); // 10% of 200
    expect(changedRun(21).held?.verdict).toMatchObject({ exceeded: true, inScope: 200, allowedCreates: 20 });
    expect(changedRun(21).apply).toEqual([]);
  });

  it('Preview mode is never held and drops a pending approval; 0 turns the safeguard off', () => {
    const held = after(adsync(), {}, planOf(creates(50))).status;
    const preview = statusWithApproval(adsync({}, 'Preview'), held, {}, { kind: 'preview', full: true, startedAt: now, completedAt: now, directory: { users: 0, excluded: 0, skipped: 0, organizationalUnits: [], adminGroups: [] }, plan: planOf(creates(50)) }, now);
    expect(preview.pendingApproval).toBeUndefined();
    const off = after(adsync({}, 'Sync', { maxCreates: 0, maxGrowthPercent: 0 }), {}, planOf(creates(5000)));
    expect(off.report.apply?.created).toBe(5000);
    expect(off.status.pendingApproval).toBeUndefined();
  });
});
