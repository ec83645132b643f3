// The AdSync object stays well under 256 KiB (etcd's comfortable object size is far
// below its 1.5 MiB limit) whatever the directory's size: a sync of 100,000 users
// with long DNs and names, thousands of OUs, admin groups and failures.
import { describe, expect, it } from 'vitest';
import { adSyncSchema, type AdSync } from '../../src/api/adsync.ts';
import { adSyncStatusSchema } from '../../src/api/status.ts';
import { statusAfterRun } from '../../src/controller/status.ts';
import type { RunReport } from '../../src/reconcile/engine.ts';

const N = 100_000;
const long = (prefix: string, i: number) => `${prefix} ${String(i).padStart(6, '0')} ${'x'.repeat(200)}`;

const adsync: AdSync = adSyncSchema.parse({
  apiVersion: 'truetask.io/v1alpha1',
  kind: 'AdSync',
  metadata: { name: 'corp', namespace: 'truetask', generation: 7 },
  spec: {
    mode: 'Sync',
    ldap: { url: 'ldaps://dc1:636', baseDN: 'DC=corp,DC=example,DC=com', bindDN: 'svc@corp', bindPasswordSecretRef: { name: 'ad-bind' } },
    excludedOUs: Array.from({ length: 20 }, (_, i) => `OU=Excluded ${i},DC=corp,DC=example,DC=com`),
    adminPromotion: { enabled: true, groups: Array.from({ length: 20 }, (_, i) => `CN=Admins ${i},OU=Groups,DC=corp,DC=example,DC=com`), nested: true },
    truetask: { url: 'https://tt', tokenSecretRef: { name: 'tt' } },
  },
});

function report(): RunReport {
  const changes = Array.from({ length: N }, (_, i) => ({
    kind: 'create' as const,
    email: `${long('user', i).replace(/ /g, '.').slice(0, 60)}@corp.example.com`,
    name: long('User', i),
    role: 'user' as const,
    dns: [`CN=${long('User', i)},OU=Team ${i % 100},OU=Bulk,OU=Staff,DC=corp,DC=example,DC=com`],
  }));
  const failures = Array.from({ length: 50 }, (_, i) => ({ email: changes[i]?.email ?? '', action: 'create' as const, reason: 'TruetaskRejected', message: long('Truetask rejected POST /v1/users (400)', i) }));
  return {
    kind: 'sync',
    full: true,
    startedAt: new Date('2026-11-25T10:00:00Z'),
    completedAt: new Date('2026-11-25T10:05:00Z'),
    directory: {
      users: N,
      excluded: 2_000,
      skipped: 500,
      organizationalUnits: Array.from({ length: 5_000 }, (_, i) => ({ dn: `OU=${long('Team', i)},OU=Bulk,OU=Staff,DC=corp,DC=example,DC=com`, kind: 'organizationalUnit' as const, users: 20, excluded: false })),
      adminGroups: Array.from({ length: 20 }, (_, i) => ({ ref: `CN=Admins ${i},OU=Groups,DC=corp,DC=example,DC=com`, dn: `CN=Admins ${i},OU=Groups,DC=corp,DC=example,DC=com`, found: true, members: 500 })),
    },
    plan: { rows: [], changes, summary: { directoryUsers: N, excluded: 2_000, skipped: 500, toCreate: N, toPromote: 0, unchanged: 0 } },
    apply: { created: N - 5_000, promoted: 0, alreadyDone: 0, failed: 5_000, failures, failedEmails: changes.slice(0, 5_000).map((c) => c.email), result: 'PartiallyFailed' },
  };
}

describe('the AdSync object at 100,000 users', () => {
  it('stays well under 256 KiB, bounded lists flagged as truncated, and valid against the schema', () => {
    const status = statusAfterRun({ adsync, now: new Date('2026-11-25T10:05:00Z'), nextSyncAt: new Date('2026-11-25T10:10:00Z') }, report());
    expect(adSyncStatusSchema.safeParse(status).success).toBe(true);
    expect(status.preview?.users).toHaveLength(100);
    expect(status.preview?.truncated).toBe(true);
    expect(status.directory?.organizationalUnitsTruncated).toBe(true);
    const bytes = Buffer.byteLength(JSON.stringify({ ...adsync, status }));
    expect(bytes).toBeLessThan(128 * 1024);
  });
});

describe('a plan held by spec.safeguard', () => {
  it('stays well under 256 KiB too, at the most changes whose fingerprints are kept and at 100,000', async () => {
    const { approvalGate, approvalRequest, statusWithApproval } = await import('../../src/controller/approval.ts');
    const { MAX_FINGERPRINTS } = await import('../../src/reconcile/digest.ts');
    for (const n of [MAX_FINGERPRINTS, N]) {
      const full = report();
      const changes = full.plan.changes.slice(0, n);
      const plan = { ...full.plan, changes, summary: { ...full.plan.summary, toCreate: n } };
      const { apply: _a, ...rest } = full;
      const now = new Date('2026-11-25T10:05:00Z');
      const g = approvalGate(adsync, {}, approvalRequest(adsync, {}))(plan, true);
      const held: RunReport = { ...rest, plan, gate: g };
      const status = statusWithApproval(adsync, statusAfterRun({ adsync, now }, held), {}, held, now);
      expect(adSyncStatusSchema.safeParse(status).success).toBe(true);
      expect(status.pendingApproval?.toCreate).toBe(n);
      expect(status.pendingApproval?.changeSet === undefined).toBe(n > MAX_FINGERPRINTS);
      const bytes = Buffer.byteLength(JSON.stringify({ ...adsync, status }));
      // measured: 163 KB at 5,000 changes (their fingerprints kept), 137 KB at 100,000, with these long names and 5,000 OUs
      expect(bytes).toBeLessThan(176 * 1024);
    }
  });
});
