// kstatus (sigs.k8s.io/cli-utils, as Flux and kpt read health) and the shipped
// Argo CD Lua health check (docs/argocd-health.lua, in a Lua 5.1 interpreter)
// agree on every phase of an AdSync, built by the controller's own status code.
// The live phases on a real API server are in failure.test.ts; the docs show the
// same Lua as the file tested here.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { adSyncSchema, type AdSync } from '../../src/api/adsync.ts';
import type { AdSyncStatus } from '../../src/api/status.ts';
import { approvalGate, approvalRequest, statusWithApproval } from '../../src/controller/approval.ts';
import { statusAfterError, statusAfterRun, statusRunStarted, statusWhenSuspended } from '../../src/controller/status.ts';
import { directoryError, truetaskError } from '../../src/errors.ts';
import type { RunReport } from '../../src/reconcile/engine.ts';
import { ARGOCD_HEALTH_LUA, argoHealth, kstatus, luaLiteral } from '../support/health.ts';

const now = new Date('2026-11-25T10:00:00Z');
const base = (generation: number, status?: AdSyncStatus, suspend = false): AdSync =>
  adSyncSchema.parse({
    apiVersion: 'truetask.io/v1alpha1',
    kind: 'AdSync',
    metadata: { name: 'corp', namespace: 'truetask', generation },
    spec: {
      mode: 'Sync',
      suspend,
      ldap: { url: 'ldaps://dc1:636', baseDN: 'DC=corp', bindDN: 'svc@corp', bindPasswordSecretRef: { name: 'ad-bind' } },
      truetask: { url: 'https://tt', tokenSecretRef: { name: 'tt' } },
    },
    ...(status ? { status } : {}),
  });
const report: RunReport = {
  kind: 'sync',
  full: true,
  startedAt: now,
  completedAt: now,
  directory: { users: 1, excluded: 0, skipped: 0, organizationalUnits: [], adminGroups: [] },
  plan: { rows: [], changes: [], summary: { directoryUsers: 1, excluded: 0, skipped: 0, toCreate: 0, toPromote: 0, unchanged: 1 } },
  apply: { created: 0, promoted: 0, alreadyDone: 0, failed: 0, failures: [], failedEmails: [], result: 'Succeeded' },
};

/** The status of a Sync run whose plan the create safeguard held (the controller's own code), and of the approved run after it. */
function heldRun(adsync: AdSync, previous: AdSyncStatus): { status: AdSyncStatus; report: RunReport } {
  const changes = Array.from({ length: 600 }, (_, i) => ({ kind: 'create' as const, email: `u${i}@corp.example.com`, name: `U ${i}`, role: 'user' as const, dns: [`CN=U ${i},DC=corp`] }));
  const plan = { rows: [], changes, summary: { directoryUsers: 600, excluded: 0, skipped: 0, toCreate: 600, toPromote: 0, unchanged: 0 } };
  const request = approvalRequest(adsync, previous);
  const g = approvalGate(adsync, previous, request)(plan, true);
  const r: RunReport = { ...report, plan, gate: g };
  const held: RunReport = g.held ? (({ apply: _a, ...rest }) => rest)(r) : { ...r, apply: { ...report.apply!, created: 600 } };
  return { status: statusWithApproval(adsync, statusAfterRun({ adsync, now, previous }, held), request, held, now), report: held };
}
function heldStatus(): AdSyncStatus {
  return heldRun(base(2), {}).status;
}
function approvedStatus(): AdSyncStatus {
  const held = heldStatus();
  const approved = adSyncSchema.parse({ ...base(2), metadata: { ...base(2).metadata, annotations: { 'truetask.io/approve': held.pendingApproval!.digest } } });
  return heldRun(approved, held).status;
}

describe('GitOps health of an AdSync', () => {
  const bad = directoryError('InvalidCredentials', 'fix-config', 'Bind refused (AD code 52e)');
  const down = truetaskError('TruetaskUnavailable', 'backoff', 'Truetask answered 503 5 times in a row');
  const ok = statusAfterRun({ adsync: base(2), now }, report);
  const phases: Array<[string, string, string, AdSync]> = [
    // kstatus reads any custom resource without status as Current; the operator's first reconcile writes Reconciling.
    ['created, not seen by the operator yet', 'Current', 'Progressing', base(1)],
    ['first run in progress', 'InProgress', 'Progressing', base(1, statusRunStarted({}, 1, 'sync in progress (new)', now))],
    ['synced', 'Current', 'Healthy', base(2, ok)],
    ['spec changed, not yet observed', 'InProgress', 'Progressing', base(3, ok)],
    ['run in progress after a spec change', 'InProgress', 'Progressing', base(3, statusRunStarted(ok, 3, 'sync in progress (spec)', now))],
    ['transient failure waiting for its retry', 'InProgress', 'Progressing', base(2, statusAfterError({ adsync: base(2, ok), now, health: { kind: 'retrying', message: 'TruetaskUnavailable: attempt 1 failed' } }, down, now))],
    ['stalled: a person must act', 'Failed', 'Degraded', base(2, statusAfterError({ adsync: base(2, ok), now, health: { kind: 'stalled', reason: bad.reason, message: bad.detail } }, bad, now))],
    ['suspended', 'Current', 'Suspended', base(3, statusWhenSuspended({ adsync: base(3, ok), now }), true)],
    ['a plan waits for approval (spec.safeguard)', 'Failed', 'Suspended', base(2, heldStatus())],
    ['approved plan applied', 'Current', 'Healthy', base(2, approvedStatus())],
  ];

  it.each(phases)('%s: kstatus %s, Argo CD %s', async (_what, expectedKstatus, expectedArgo, obj) => {
    const [k, a] = await Promise.all([kstatus(obj), argoHealth(obj)]);
    expect(k.status).toBe(expectedKstatus);
    expect(a.status).toBe(expectedArgo);
    expect(a.message).not.toBe('');
  });

  it('hands Argo CD\'s Lua any text the status can hold', async () => {
    const tricky = 'quote " backslash \\ newline \n tab \t unicode Zoë 李雷 \u0001 end';
    const obj = base(2, statusAfterError({ adsync: base(2, ok), now, health: { kind: 'stalled', reason: 'InvalidSpec', message: tricky } }, bad, now));
    expect(luaLiteral(tricky)).not.toContain('\\u');
    expect((await argoHealth(obj)).message).toBe(`InvalidSpec: ${tricky}`);
  });

  it('the docs and the chart README show the very Lua that is tested here', async () => {
    const lines = ARGOCD_HEALTH_LUA.trimEnd().split('\n');
    for (const doc of ['docs/gitops.md', 'charts/truetask-adsync/README.md']) {
      const text = await readFile(new URL(`../../${doc}`, import.meta.url), 'utf8');
      expect(text, doc).toContain('resource.customizations.health.truetask.io_AdSync: |');
      expect(text, doc).toContain(lines.map((l) => (l ? `    ${l}` : '')).join('\n'));
    }
  });
});
