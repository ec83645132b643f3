// The AdSync object stays well under 256 KiB (etcd's comfortable object size is far
// below its 1.5 MiB limit) whatever the directory's size: a sync of 100,000 users
// with long DNs and names, thousands of OUs, admin groups and failures.
import { describe, expect, it } from 'vitest';
import { adSyncSchema, type AdSync } from '../../src/api/adsync.ts';
import { adSyncStatusSchema } from '../../src/api/status.ts';
import { statusAfterError, statusAfterRun } from '../../src/controller/status.ts';
import { STATUS_MAX_BYTES } from '../../src/controller/status-size.ts';
import { syncNowToken } from '../../src/controller/sync-now.ts';
import { AdSyncError } from '../../src/errors.ts';
import { clipBytes } from '../../src/runtime/clip.ts';
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
      // the held plan is bounded with the rest of the status (status-size.ts)
      expect(Buffer.byteLength(JSON.stringify(status))).toBeLessThanOrEqual(STATUS_MAX_BYTES);
    }
  });
});

// Every cap filled with the longest strings AD, Truetask or an error can produce: ASCII (1 byte a
// character), CJK (3 bytes) and emoji (4 bytes, surrogate pairs in JS).
const alphabets = { ascii: 'x', cjk: '漢', emoji: '😀' } as const;

function worstReport(ch: string): RunReport {
  const big = (i: number, n = 2_000) => `${i} ${ch.repeat(n)}`;
  const changes = Array.from({ length: 1_000 }, (_, i) => ({ kind: 'create' as const, email: `${big(i, 500)}@corp.example.com`, name: big(i), role: 'user' as const, dns: [`CN=${big(i)},DC=corp`] }));
  const failures = Array.from({ length: 50 }, (_, i) => ({ email: changes[i]?.email ?? '', action: 'create' as const, reason: big(i, 100), message: big(i, 5_000) }));
  return {
    kind: 'sync',
    full: true,
    fullReason: big(0, 10_000),
    entriesRead: 1_000,
    startedAt: new Date('2026-11-25T10:00:00Z'),
    completedAt: new Date('2026-11-25T10:05:00Z'),
    directory: {
      users: 1_000,
      excluded: 0,
      skipped: 0,
      organizationalUnits: Array.from({ length: 5_000 }, (_, i) => ({ dn: `OU=${big(i)},DC=corp`, kind: 'organizationalUnit' as const, users: 5_000 - i, excluded: false })),
      adminGroups: Array.from({ length: 60 }, (_, i) => ({ ref: big(i), dn: `CN=${big(i)},DC=corp`, found: true, members: 1 })),
    },
    plan: { rows: [], changes, summary: { directoryUsers: 1_000, excluded: 0, skipped: 0, toCreate: 1_000, toPromote: 0, unchanged: 0 } },
    apply: { created: 0, promoted: 0, alreadyDone: 0, failed: 1_000, failures, failedEmails: changes.map((c) => c.email), result: 'Failed' },
    leavers: {
      disabled: 1_000,
      notInDirectory: 0,
      users: Array.from({ length: 1_000 }, (_, i) => ({ email: `${big(i, 500)}@corp.example.com`, name: big(i), role: 'user' as const, reason: 'Disabled' as const })),
      ownedDomains: ['corp.example.com'],
    },
    server: { url: `ldaps://${big(0)}:636`, dsServiceName: big(1, 10_000), invocationId: big(2), highestCommittedUSN: 1 },
  };
}

describe('the status in the worst case (every cap filled)', () => {
  for (const [alphabet, ch] of Object.entries(alphabets)) {
    it(`stays under ${STATUS_MAX_BYTES / 1024} KiB with ${alphabet} strings, valid against the schema`, () => {
      const long = ch.repeat(100_000);
      const ctx = { adsync, now: new Date('2026-11-25T10:05:00Z'), nextSyncAt: new Date('2026-11-25T10:10:00Z'), syncNow: syncNowToken(long), health: { kind: 'retrying' as const, message: long } };
      const after = statusAfterRun(ctx, worstReport(ch));
      // A failed run after it keeps the lists and adds long error messages everywhere.
      const err = new AdSyncError('truetask', 'TruetaskError', 'retry', long, { hint: long });
      const failed = statusAfterError({ ...ctx, previous: after, health: { kind: 'stalled', reason: 'TruetaskError', message: long } }, err, new Date('2026-11-25T10:06:00Z'));
      for (const status of [after, failed]) {
        const parsed = adSyncStatusSchema.safeParse(status);
        expect(parsed.error?.issues ?? []).toEqual([]);
        const bytes = Buffer.byteLength(JSON.stringify(status));
        expect(bytes).toBeLessThanOrEqual(STATUS_MAX_BYTES);
        // The whole object too, with its spec, well under the spec's 256 KiB.
        expect(Buffer.byteLength(JSON.stringify({ ...adsync, status }))).toBeLessThan(256 * 1024);
        // Trimmed lists say so.
        expect(status.directory?.organizationalUnitsTruncated).toBe(true);
        expect(status.preview?.truncated).toBe(true);
        expect(status.leavers?.truncated).toBe(true);
        expect(status.preview?.users.length).toBeGreaterThan(0);
        console.info(`status worst case (${alphabet}, ${status === after ? 'after a run' : 'after a failure'}): ${(bytes / 1024).toFixed(1)} KiB; OUs ${status.directory?.organizationalUnits?.length}, planned users ${status.preview?.users.length}, leavers ${status.leavers?.users.length}`);
      }
    });
  }

  it('clips by bytes without splitting a character', () => {
    expect(clipBytes('abc', 3)).toBe('abc');
    expect(clipBytes('漢字漢字', 9)).toBe('漢字…');
    expect(clipBytes('😀😀😀', 11)).toBe('😀😀…');
    expect(clipBytes('😀😀😀', 10)).toBe('😀…');
    for (const ch of Object.values(alphabets)) {
      for (let max = 4; max < 40; max++) {
        const c = clipBytes(ch.repeat(50), max);
        expect(Buffer.byteLength(c)).toBeLessThanOrEqual(max);
        expect(c.endsWith('…')).toBe(true);
        // no lone surrogate
        expect(c).toBe(Buffer.from(c, 'utf8').toString('utf8'));
      }
    }
  });

  it('a sync-now value too long for the status is recorded by its hash, the same every time', () => {
    const short = 'x'.repeat(256);
    expect(syncNowToken(short)).toBe(short);
    const t = syncNowToken('y'.repeat(300));
    expect(t).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(syncNowToken('y'.repeat(300))).toBe(t);
    expect(syncNowToken(t)).toBe(t);
    expect(syncNowToken('y'.repeat(10_000))).not.toBe(t);
  });
});
