import { describe, expect, it } from 'vitest';
import { adSyncSchema, type AdSync } from '../../src/api/adsync.ts';
import { adSyncStatusSchema } from '../../src/api/status.ts';
import { setConditions, statusAfterError, statusAfterRun, statusInvalidSpec, statusRunStarted, statusWhenSuspended } from '../../src/controller/status.ts';
import { directoryError } from '../../src/errors.ts';
import type { RunReport } from '../../src/reconcile/engine.ts';
import { runScope } from '../../src/controller/run-scope.ts';

const adsync = (mode: 'Preview' | 'Sync'): AdSync =>
  adSyncSchema.parse({
    apiVersion: 'truetask.io/v1alpha1',
    kind: 'AdSync',
    metadata: { name: 'corp', namespace: 'truetask', generation: 3 },
    spec: {
      mode,
      ldap: { url: 'ldaps://dc1:636', baseDN: 'DC=corp', bindDN: 'svc@corp', bindPasswordSecretRef: { name: 'ad-bind' } },
      truetask: { url: 'https://tt', tokenSecretRef: { name: 'tt' } },
    },
  });

function report(n: number, apply?: RunReport['apply']): RunReport {
  const changes = Array.from({ length: n }, (_, i) => ({ kind: 'create' as const, email: `u${String(i).padStart(6, '0')}@corp.example.com`, name: `User ${i}`, role: 'user' as const, dns: [`CN=User ${i},OU=Bulk,DC=corp`] }));
  return {
    kind: apply ? 'sync' : 'preview',
    full: true,
    startedAt: new Date('2026-11-25T10:00:00Z'),
    completedAt: new Date('2026-11-25T10:00:05Z'),
    directory: {
      users: n,
      excluded: 0,
      skipped: 0,
      organizationalUnits: Array.from({ length: Math.min(n, 5000) }, (_, i) => ({ dn: `OU=Team ${i},DC=corp`, kind: 'organizationalUnit' as const, users: 1, excluded: false })),
      adminGroups: [],
    },
    plan: { rows: [], changes, summary: { directoryUsers: n, excluded: 0, skipped: 0, toCreate: n, toPromote: 0, unchanged: 0 } },
    ...(apply ? { apply } : {}),
  };
}

describe('status', () => {
  it('a condition keeps its lastTransitionTime while its status does not change', () => {
    const t1 = new Date('2026-11-25T10:00:00Z');
    const t2 = new Date('2026-11-25T11:00:00Z');
    const first = setConditions(undefined, [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'a' }], 1, t1);
    const same = setConditions(first, [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'b' }], 2, t2);
    expect(same[0]?.lastTransitionTime).toBe('2026-11-25T10:00:00Z');
    expect(same[0]?.message).toBe('b');
    const flipped = setConditions(same, [{ type: 'Ready', status: 'False', reason: 'Timeout', message: 'c' }], 2, t2);
    expect(flipped[0]?.lastTransitionTime).toBe('2026-11-25T11:00:00Z');
  });

  it('stays small whatever the directory size, and valid against the schema', () => {
    const s = statusAfterRun({ adsync: adsync('Preview'), now: new Date() }, report(100_000));
    expect(adSyncStatusSchema.safeParse(s).success).toBe(true);
    expect(s.preview?.users).toHaveLength(100);
    expect(s.preview?.truncated).toBe(true);
    expect(s.directory?.organizationalUnitsTruncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(s))).toBeLessThan(64 * 1024);
  });

  it('preview mode: Ready True, Synced False/PreviewMode; no lastSync', () => {
    const s = statusAfterRun({ adsync: adsync('Preview'), now: new Date() }, report(2));
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Succeeded'],
      ['DirectoryConnected', 'True', 'Connected'],
      ['TruetaskConnected', 'True', 'Connected'],
      ['Synced', 'False', 'PreviewMode'],
    ]);
    expect(s.lastSync).toBeUndefined();
    expect(s.observedGeneration).toBe(3);
  });

  it('a partly failed sync is PartiallyFailed with the first failures in the message', () => {
    const s = statusAfterRun(
      { adsync: adsync('Sync'), now: new Date() },
      report(2, { created: 1, promoted: 0, alreadyDone: 0, failed: 1, failures: [{ email: 'x@corp', action: 'create', reason: 'TruetaskRejected', message: 'email invalid' }], failedEmails: ['u000001@corp.example.com'], result: 'PartiallyFailed' }),
    );
    // what is left to do: the failed user
    expect(s.preview).toMatchObject({ toCreate: 1, toPromote: 0, unchanged: 1, users: [{ email: 'u000001@corp.example.com', action: 'Create' }] });
    expect(s.lastSync).toMatchObject({ result: 'PartiallyFailed', created: 1, failed: 1 });
    expect(s.lastSync?.message).toContain('x@corp (TruetaskRejected: email invalid)');
    expect(s.conditions?.find((c) => c.type === 'Synced')).toMatchObject({ status: 'False', reason: 'PartiallyFailed' });
  });

  it('a directory failure says what happened in AD terms, with the hint', () => {
    const s = statusAfterError({ adsync: adsync('Sync'), now: new Date() }, directoryError('InvalidCredentials', 'fix-config', 'Bind refused (AD code 52e)'), new Date());
    const ready = s.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'InvalidCredentials' });
    expect(ready?.message).toMatch(/try both bindDN formats/);
    expect(s.conditions?.find((c) => c.type === 'DirectoryConnected')).toMatchObject({ status: 'False', reason: 'InvalidCredentials' });
    expect(s.lastSync?.result).toBe('Failed');
  });

  it('an invalid spec: Ready False and Stalled with reason InvalidSpec, no next run; what the last valid run found stays', () => {
    const now = new Date('2026-11-25T10:00:00Z');
    const previous = statusAfterRun({ adsync: adsync('Preview'), now, nextSyncAt: new Date('2026-11-25T16:00:00Z') }, report(3));
    const status = statusInvalidSpec(previous, 4, 'spec.userFilter: not a filter', now);
    expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'spec.userFilter: not a filter', observedGeneration: 4 });
    expect(status.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(status.observedGeneration).toBe(4);
    expect(status.nextSyncAt).toBeUndefined();
    expect(status.preview?.toCreate).toBe(3);
  });

  it('status.leavers: set by a run that reports it, kept by one that does not, stale after a failed full run or an invalid spec', () => {
    const now = new Date('2026-11-25T10:00:00Z');
    const leavers = { disabled: 1, notInDirectory: 1, ownedDomains: ['corp.example.com'], users: [
      { email: 'annie.easley@corp.example.com', name: 'Annie Easley', role: 'user' as const, reason: 'Disabled' as const },
      { email: 'old.hire@corp.example.com', name: 'Old Hire', role: 'admin' as const, reason: 'NotInDirectory' as const },
    ] };
    const first = statusAfterRun({ adsync: adsync('Sync'), now }, { ...report(2), leavers });
    expect(first.leavers).toEqual({ generatedAt: '2026-11-25T10:00:05Z', disabled: 1, notInDirectory: 1, users: leavers.users, truncated: false, stale: false });
    expect(adSyncStatusSchema.safeParse(first).success).toBe(true);

    // a run without a report (not a full run) leaves it as it was
    expect(statusAfterRun({ adsync: adsync('Sync'), now, previous: first }, { ...report(2), full: false }).leavers).toEqual(first.leavers);
    // a failed full run: the same report, stale; a failed run that was not full: unchanged
    const failed = statusAfterError({ adsync: adsync('Sync'), now, previous: first }, directoryError('SearchTimeLimitExceeded', 'backoff', 'the DC stopped the search'), now);
    expect(failed.leavers).toEqual({ ...first.leavers, stale: true });
    expect(statusAfterError({ adsync: adsync('Sync'), now, previous: first, full: false }, directoryError('Timeout', 'retry', 'no answer'), now).leavers).toEqual(first.leavers);
    expect(statusInvalidSpec(first, 4, 'spec.userFilter: not a filter', now).leavers).toEqual({ ...first.leavers, stale: true });
    // none before: none after a failure
    expect(statusAfterError({ adsync: adsync('Sync'), now }, directoryError('Timeout', 'retry', 'no answer'), now).leavers).toBeUndefined();
    // the next full run makes it fresh
    expect(statusAfterRun({ adsync: adsync('Sync'), now, previous: failed }, { ...report(2), leavers: { ...leavers, disabled: 0, notInDirectory: 0, users: [] } }).leavers).toMatchObject({ stale: false, disabled: 0, users: [] });
  });

  describe('kstatus conditions', () => {
    const types = (st: { conditions?: Array<{ type: string; status: string; reason: string }> }) => st.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`);
    const now = new Date('2026-11-25T10:00:00Z');

    it('a failure a person must fix: Stalled True with the AD reason and hint, no Reconciling', () => {
      const err = directoryError('InvalidCredentials', 'fix-config', 'Bind refused (AD code 52e)');
      const s = statusAfterError({ adsync: adsync('Sync'), now, health: { kind: 'stalled', reason: err.reason, message: err.detail } }, err, now);
      expect(s.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidCredentials', observedGeneration: 3, message: expect.stringMatching(/try both bindDN formats/) });
      expect(s.conditions?.some((c) => c.type === 'Reconciling')).toBe(false);
      expect(s.observedGeneration).toBe(3);
    });

    it('a run in progress: Reconciling True, Stalled removed, observedGeneration kept until the run ends', () => {
      const err = directoryError('InvalidCredentials', 'fix-config', 'Bind refused');
      const stalled = statusAfterError({ adsync: adsync('Sync'), now, health: { kind: 'stalled', reason: err.reason, message: err.detail } }, err, now);
      const running = statusRunStarted({ ...stalled, observedGeneration: 2 }, 3, 'sync in progress (secret)', now);
      expect(types(running)).toContain('Reconciling=True/Progressing');
      expect(running.conditions?.some((c) => c.type === 'Stalled')).toBe(false);
      expect(running.observedGeneration).toBe(2);
    });

    it('a transient failure waiting for its retry: Reconciling True (ProgressingWithRetry); a success removes both', () => {
      const err = directoryError('ConnectionRefused', 'retry', 'Connection refused');
      const retrying = statusAfterError({ adsync: adsync('Sync'), now, health: { kind: 'retrying', message: 'ConnectionRefused: attempt 1 failed' } }, err, now);
      expect(types(retrying)).toContain('Reconciling=True/ProgressingWithRetry');
      expect(retrying.conditions?.some((c) => c.type === 'Stalled')).toBe(false);
      const ok = statusAfterRun({ adsync: { ...adsync('Preview'), status: retrying }, now }, report(1));
      expect(types(ok)).toEqual(['Ready=True/Succeeded', 'DirectoryConnected=True/Connected', 'TruetaskConnected=True/Connected', 'Synced=False/PreviewMode']);
    });

    it('suspended: nothing is in progress', () => {
      const running = statusRunStarted({}, 3, 'preview in progress', now);
      const s = statusWhenSuspended({ adsync: adsync('Preview'), now, previous: running });
      expect(s.conditions ?? []).toEqual([]);
      expect(s.nextSyncAt).toBeUndefined();
    });
  });

  it('a failed run names the DC that answered it in status.server, and the next run is a full one', () => {
    const now = new Date('2026-11-25T10:00:00Z');
    const server = { url: 'ldaps://dc2:636', dsServiceName: 'CN=NTDS Settings,CN=DC2,CN=Servers,DC=corp', invocationId: '6f1c0000-0000-0000-0000-000000000000', highestCommittedUSN: 4242 };
    const s = statusAfterError({ adsync: adsync('Sync'), now, server }, directoryError('SearchTimeLimitExceeded', 'backoff', 'the DC stopped the search'), now);
    expect(s.server).toEqual(server);
    expect(adSyncStatusSchema.safeParse(s).success).toBe(true);
    // The USN of a failed run is never continued from: the next scheduled run reads everything.
    expect(runScope({ mode: 'Sync', trigger: 'schedule', fullSyncIntervalSeconds: 86_400, generation: 1, status: { ...s, observedGeneration: 1 }, now: now.getTime() + 60_000 }).kind).toBe('full');
    // Without a DC (it failed before one answered), the last known one stays.
    const kept = statusAfterError({ adsync: adsync('Sync'), now, previous: s }, directoryError('ConnectionRefused', 'retry', 'refused'), now);
    expect(kept.server).toEqual(server);
  });
});
