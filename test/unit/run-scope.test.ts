import { describe, expect, it } from 'vitest';
import { adSyncSchema, type AdSync } from '../../src/api/adsync.ts';
import { parseFullSyncInterval } from '../../src/api/interval.ts';
import { adSyncSpecSchema } from '../../src/api/spec.ts';
import { adSyncStatusSchema, type AdSyncStatus } from '../../src/api/status.ts';
import { runScope, type ScopeInput } from '../../src/controller/run-scope.ts';
import { statusAfterRun } from '../../src/controller/status.ts';
import type { RunReport } from '../../src/reconcile/engine.ts';
import { changedRunOn } from '../../src/reconcile/scope.ts';

const server = { url: 'ldaps://dc1:636', dsServiceName: 'CN=NTDS Settings,CN=DC1,CN=Servers', invocationId: '6f1c0000-0000-0000-0000-000000000001', highestCommittedUSN: 5000 };
const T0 = Date.parse('2026-11-25T00:00:00Z');
const H = 3600_000;

/** After a successful full run at T0 on dc1 (generation 3). */
const okStatus: AdSyncStatus = {
  observedGeneration: 3,
  conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: '', lastTransitionTime: '2026-11-25T00:00:00Z' }],
  server,
  lastRun: { kind: 'Full', entriesRead: 1180, at: '2026-11-25T00:00:00Z', lastFullAt: '2026-11-25T00:00:00Z' },
};

const base: ScopeInput = { mode: 'Sync', trigger: 'schedule', fullSyncIntervalSeconds: 24 * 3600, generation: 3, status: okStatus, now: T0 + 6 * H };

describe('full or changed-only', () => {
  it('a scheduled Sync run after a successful run on the same spec, within fullSyncInterval, reads only what changed since the USN', () => {
    expect(runScope(base)).toEqual({ kind: 'changed', since: { dsServiceName: server.dsServiceName, invocationId: server.invocationId, highestCommittedUSN: 5000 } });
  });

  it.each<[string, Partial<ScopeInput>, RegExp]>([
    ['fullSyncInterval "0"', { fullSyncIntervalSeconds: 0 }, /fullSyncInterval is "0"/],
    ['Preview mode', { mode: 'Preview' }, /Preview mode/],
    ['Sync Now', { trigger: 'sync-now' }, /Sync Now/],
    ['a spec change', { trigger: 'spec' }, /the spec changed/],
    ['a new generation not yet observed', { generation: 4 }, /the spec changed/],
    ['a retry after a failure', { trigger: 'retry' }, /the last run failed/],
    ['the stalled safety net', { trigger: 'safety-net' }, /the last run failed/],
    ['the first run', { trigger: 'new' }, /the first run/],
    ['a last run that did not succeed', { status: { ...okStatus, conditions: [{ type: 'Ready', status: 'False', reason: 'PartiallyFailed', message: '', lastTransitionTime: '2026-11-25T00:00:00Z' }] } }, /the last run failed/],
    ['no status.server', { status: { ...okStatus, server: undefined } }, /no earlier full run/],
    ['fullSyncInterval passed since the last full run', { now: T0 + 24 * H }, /fullSyncInterval has passed/],
  ])('is a full run on %s', (_what, over, reason) => {
    const s = runScope({ ...base, ...over });
    expect(s.kind).toBe('full');
    expect(s.kind === 'full' && s.reason).toMatch(reason);
  });

  it('honours fullSyncInterval from the last FULL run, not the last run', () => {
    const afterChanged: AdSyncStatus = { ...okStatus, lastRun: { kind: 'Changed', entriesRead: 2, at: '2026-11-25T23:00:00Z', lastFullAt: '2026-11-25T00:00:00Z' } };
    expect(runScope({ ...base, status: afterChanged, now: T0 + 23.5 * H }).kind).toBe('changed');
    expect(runScope({ ...base, status: afterChanged, now: T0 + 24 * H }).kind).toBe('full');
    expect(runScope({ ...base, fullSyncIntervalSeconds: 2 * 3600, now: T0 + 2 * H - 1 }).kind).toBe('changed');
    expect(runScope({ ...base, fullSyncIntervalSeconds: 2 * 3600, now: T0 + 2 * H }).kind).toBe('full');
  });

  it('the DC decides too: another identity or a USN gone back reads everything', () => {
    expect(changedRunOn(server, { ...server, highestCommittedUSN: 5000 })).toEqual({ changed: true });
    expect(changedRunOn(server, { ...server, highestCommittedUSN: 9000, url: 'ldaps://dc2:636' })).toEqual({ changed: true });
    expect(changedRunOn(server, { ...server, invocationId: '6f1c0000-0000-0000-0000-000000000002' })).toMatchObject({ changed: false, reason: expect.stringMatching(/^another domain controller answered/) });
    expect(changedRunOn(server, { ...server, dsServiceName: 'CN=NTDS Settings,CN=DC2,CN=Servers' })).toMatchObject({ changed: false });
    expect(changedRunOn(server, { ...server, highestCommittedUSN: 4999 })).toEqual({ changed: false, reason: "the domain controller's highestCommittedUSN went back from 5000 to 4999 (restored from an older copy?)" });
  });

  it('spec.fullSyncInterval: default 24h, "0" or a duration', () => {
    const spec = { ldap: { url: 'ldaps://dc1', baseDN: 'DC=corp', bindDN: 'svc', bindPasswordSecretRef: { name: 'a' } }, truetask: { url: 'https://tt', tokenSecretRef: { name: 't' } } };
    expect(adSyncSpecSchema.parse(spec).fullSyncInterval).toBe('24h');
    expect(parseFullSyncInterval('0')).toBe(0);
    expect(parseFullSyncInterval('24h')).toBe(86_400);
    expect(parseFullSyncInterval('1h30m')).toBe(5400);
    const bad = adSyncSpecSchema.safeParse({ ...spec, fullSyncInterval: 'daily' });
    expect(bad.success ? [] : bad.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['fullSyncInterval: must be "0" or a duration such as 24h, 12h or 90m']);
  });
});

describe('status after a changed-only run', () => {
  const adsync: AdSync = adSyncSchema.parse({
    apiVersion: 'truetask.io/v1alpha1',
    kind: 'AdSync',
    metadata: { name: 'corp', namespace: 'truetask', generation: 3 },
    spec: { mode: 'Sync', ldap: { url: 'ldaps://dc1:636', baseDN: 'DC=corp', bindDN: 'svc', bindPasswordSecretRef: { name: 'a' } }, truetask: { url: 'https://tt', tokenSecretRef: { name: 't' } } },
  });
  const changedReport: RunReport = {
    kind: 'sync',
    full: false,
    entriesRead: 1,
    startedAt: new Date('2026-11-25T06:00:00Z'),
    completedAt: new Date('2026-11-25T06:00:01Z'),
    directory: { users: 1, excluded: 0, skipped: 0, organizationalUnits: [], adminGroups: [] },
    plan: { rows: [], changes: [{ kind: 'create', email: 'nina@corp', name: 'Nina', role: 'user', dns: ['CN=Nina,DC=corp'] }], summary: { directoryUsers: 1, excluded: 0, skipped: 0, toCreate: 1, toPromote: 0, unchanged: 0 } },
    apply: { created: 1, promoted: 0, alreadyDone: 0, failed: 0, failures: [], failedEmails: [], result: 'Succeeded' },
    server: { ...server, highestCommittedUSN: 5007 },
  };
  const previous: AdSyncStatus = { ...okStatus, directory: { users: 1180, excluded: 42, skipped: 3, organizationalUnits: [], adminGroups: [] } };

  it('says Changed with the entries read, keeps the last full run\'s directory counts and time, moves the USN on', () => {
    const s = statusAfterRun({ adsync, now: new Date('2026-11-25T06:00:01Z'), previous }, changedReport);
    expect(adSyncStatusSchema.safeParse(s).success).toBe(true);
    expect(s.lastRun).toEqual({ kind: 'Changed', entriesRead: 1, at: '2026-11-25T06:00:01Z', lastFullAt: '2026-11-25T00:00:00Z' });
    expect(s.directory).toEqual(previous.directory);
    expect(s.server?.highestCommittedUSN).toBe(5007);
    expect(s.lastSync).toMatchObject({ result: 'Succeeded', created: 1 });
    expect(s.conditions?.find((c) => c.type === 'DirectoryConnected')?.message).toBe('read 1 changed entries (changed-only run)');
  });

  it('a full run says Full, why, and restarts the fullSyncInterval clock', () => {
    const s = statusAfterRun({ adsync, now: new Date('2026-11-26T00:00:05Z'), previous, fullReason: 'Sync Now: a run asked for by a person reads everything' }, { ...changedReport, full: true, entriesRead: 1181, completedAt: new Date('2026-11-26T00:00:05Z') });
    expect(s.lastRun).toEqual({ kind: 'Full', entriesRead: 1181, at: '2026-11-26T00:00:05Z', lastFullAt: '2026-11-26T00:00:05Z', reason: 'Sync Now: a run asked for by a person reads everything' });
    expect(s.directory?.users).toBe(1);
  });
});

describe('Truetask lookups of a changed-only run', () => {
  it('one lookup per distinct usable address; a listing instead above MAX_LOOKUPS', async () => {
    const { runEngine } = await import('../../src/reconcile/engine.ts');
    const { MAX_LOOKUPS } = await import('../../src/reconcile/lookup.ts');
    const { silentLogger } = await import('../../src/log.ts');
    const { parseFilter } = await import('../../src/ldap/filter.ts');
    const calls: string[] = [];
    const truetask = {
      listUsers: async () => (calls.push('list'), []),
      findUserByEmail: async (email: string) => (calls.push(`find ${email}`), email === 'ann@corp.com' ? { id: 'a', email: 'Ann@corp.com', name: 'Ann', role: 'user' as const } : undefined),
      createUser: async () => {
        throw new Error('preview');
      },
      setRole: async () => {
        throw new Error('preview');
      },
      checkAccess: async () => ({ totalUsers: 0 }),
    };
    const cfg = {
      ldap: { url: 'ldaps://dc1', bindDN: 'svc', bindPassword: 'x', startTLS: false, tls: { insecureSkipVerify: false }, timeoutSeconds: 5 },
      read: { baseDN: 'DC=corp', pageSize: 100, userFilter: parseFilter('(objectClass=user)'), emailAttribute: 'userPrincipalName' as const, adminPromotion: { enabled: false, groups: [], nested: true } },
      excludedOUs: [],
      truetask: { url: 'http://tt', token: 't', insecureSkipVerify: false, timeoutSeconds: 5 },
      insecure: [],
    };
    const changedRead = (entries: Array<{ dn: string; email?: string; name?: string }>) => async () => ({
      read: { entries, adminGroups: [] },
      containers: [],
      server,
      changed: { adminMembers: new Set<string>(), sinceUSN: 1, changedUsers: entries.length, changedGroups: 0 },
    });
    const few = [
      { dn: 'CN=Ann,DC=corp', email: 'ANN@corp.com', name: 'Ann' },
      { dn: 'CN=Ann 2,DC=corp', email: 'ann@corp.com ', name: 'Ann' },
      { dn: 'CN=Bob,DC=corp', email: 'bob@corp.com', name: 'Bob' },
      { dn: 'CN=Nobody,DC=corp', email: 'not-an-address', name: 'Nobody' },
    ];
    const r = await runEngine(cfg, 'preview', { logger: silentLogger(), truetask, isConflict: () => false, readAD: changedRead(few) });
    expect([r.full, r.entriesRead]).toEqual([false, 4]);
    expect(calls.sort()).toEqual(['find ann@corp.com', 'find bob@corp.com']);
    expect(r.plan.changes.map((c) => `${c.kind} ${c.email}`)).toEqual(['create bob@corp.com']);
    calls.length = 0;
    const many = Array.from({ length: MAX_LOOKUPS + 1 }, (_, i) => ({ dn: `CN=U${i},DC=corp`, email: `u${i}@corp.com`, name: `U${i}` }));
    await runEngine(cfg, 'preview', { logger: silentLogger(), truetask, isConflict: () => false, readAD: changedRead(many) });
    expect(calls).toEqual(['list']);
  });
});
