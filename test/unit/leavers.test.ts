// The leavers report as a pure function (src/reconcile/leavers.ts), its status
// (src/controller/leavers-status.ts), and a run reporting it without changing
// what the run plans or writes.
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { adSyncStatusSchema, MAX_LEAVERS } from '../../src/api/status.ts';
import { leaversJson, leaversTable } from '../../src/cli/render-leavers.ts';
import type { EngineConfig } from '../../src/config/engine-config.ts';
import { leaversAfterFailure, leaversAfterRun, leaversStatus } from '../../src/controller/leavers-status.ts';
import { disabledAccountsFilter } from '../../src/ldap/disabled-accounts.ts';
import { dnKey, parseDn } from '../../src/ldap/dn.ts';
import { parseFilter } from '../../src/ldap/filter.ts';
import type { DirectoryEntry } from '../../src/ldap/reader.ts';
import { runEngine, type TruetaskPort } from '../../src/reconcile/engine.ts';
import { findLeavers, ownedDomains, type MatchedEntry } from '../../src/reconcile/leavers.ts';
import type { ExistingUser, Role } from '../../src/reconcile/plan.ts';

const none = { emails: new Set<string>(), excludedEmails: new Set<string>() };
let nextId = 0;
const tt = (email: string, role: Role = 'user', name = email.split('@')[0] ?? email): ExistingUser => ({ id: `id${nextId++}`, email, name, role });
const m = (email: string | null, excluded = false): MatchedEntry => ({ email, excluded });

describe('the leavers report', () => {
  // The cases, as the integration test has them in the real AD.
  const matched = [
    m('ada.lovelace@corp.example.com'),
    m('Alan.Turing@corp.example.com'),
    m('svc-backup@corp.example.com', true), // in an excluded OU
    m('ivan.invalid(at)corp'), // skipped: invalid
    m(null), // skipped: no email
  ];
  const disabled = { emails: new Set(['annie.easley@corp.example.com', 'dennis.ritchie@corp.example.com']), excludedEmails: new Set(['svc-disabled@corp.example.com']) };
  const existing = [
    tt('owner@corp.example.com', 'owner'), // an owner, in no entry: never listed
    tt('annie.easley@corp.example.com', 'user', 'Annie Easley'), // disabled in AD
    tt('Dennis.Ritchie@CORP.example.com', 'admin', 'Dennis Ritchie'), // disabled in AD, another case
    tt('old.hire@corp.example.com', 'user', 'Old Hire'), // deleted from AD
    tt('svc-backup@corp.example.com'), // excluded OU: not a leaver
    tt('svc-disabled@corp.example.com'), // disabled, but in an excluded OU: not a leaver
    tt('ALAN.TURING@Corp.Example.COM'), // in AD, another case: not a leaver
    tt('ada.lovelace@corp.example.com', 'admin'),
    tt('partner@external.example.org'), // a local account in another domain
    tt('someone@eu.corp.example.com'), // a subdomain no directory user has
  ];

  it('lists exactly the disabled and the deleted users of owned domains, sorted by email, with their reasons', () => {
    const r = findLeavers({ matched, disabled, existing });
    expect(r.users).toEqual([
      { email: 'annie.easley@corp.example.com', name: 'Annie Easley', role: 'user', reason: 'Disabled' },
      { email: 'Dennis.Ritchie@CORP.example.com', name: 'Dennis Ritchie', role: 'admin', reason: 'Disabled' },
      { email: 'old.hire@corp.example.com', name: 'Old Hire', role: 'user', reason: 'NotInDirectory' },
    ]);
    expect(r).toMatchObject({ disabled: 2, notInDirectory: 1, ownedDomains: ['corp.example.com'] });
  });

  it('owns the domains of the email attribute of matched entries (excluded ones too) and of disabled accounts, nothing else', () => {
    const d = ownedDomains(
      [m('a@Corp.Example.com'), m('b@lab.example.com', true), m('broken@'), m(null)],
      { emails: new Set(['c@old.example.net']), excludedEmails: new Set(['svc@svc.example.com']) },
    );
    expect([...d].sort()).toEqual(['corp.example.com', 'lab.example.com', 'old.example.net', 'svc.example.com']);
    // An owned domain only through a disabled account still reports its leavers.
    const r = findLeavers({ matched: [], disabled: { emails: new Set(['c@old.example.net']), excludedEmails: new Set() }, existing: [tt('c@old.example.net'), tt('d@old.example.net')] });
    expect(r.users.map((u) => [u.email, u.reason])).toEqual([['c@old.example.net', 'Disabled'], ['d@old.example.net', 'NotInDirectory']]);
  });

  it('an empty directory owns no domain, so it reports no leavers (never "everyone left")', () => {
    const r = findLeavers({ matched: [], disabled: none, existing: [tt('a@corp.example.com'), tt('b@corp.example.com', 'admin')] });
    expect(r).toEqual({ disabled: 0, notInDirectory: 0, users: [], ownedDomains: [] });
  });

  it('a matched entry counts whatever its case and spacing, and a skipped entry with that address too', () => {
    const r = findLeavers({
      matched: [m('x@corp.example.com'), m('  Mixed.Case@CORP.example.com '), m('no-domain')],
      disabled: { emails: new Set(['mixed.case@corp.example.com']), excludedEmails: new Set() },
      existing: [tt('mixed.case@corp.example.com'), tt('NO-DOMAIN'), tt('x@CORP.EXAMPLE.COM', 'admin')],
    });
    expect(r.users).toEqual([]);
  });

  it('holds its rules for any directory and Truetask (property)', () => {
    const local = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const domain = fc.constantFrom('corp.example.com', 'CORP.example.com', 'other.example.org');
    const email = fc.tuple(local, domain).map(([l, d]) => `${l}@${d}`);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(email, fc.boolean()), { maxLength: 6 }),
        fc.array(email, { maxLength: 4 }),
        fc.uniqueArray(fc.tuple(email, fc.constantFrom<Role>('owner', 'admin', 'user')), { maxLength: 8, selector: ([e]) => e.toLowerCase() }),
        (entries, disabledEmails, users) => {
          const input = {
            matched: entries.map(([e, excluded]) => m(e, excluded)),
            disabled: { emails: new Set(disabledEmails.map((e) => e.toLowerCase())), excludedEmails: new Set<string>() },
            existing: users.map(([e, role]) => tt(e, role)),
          };
          const r = findLeavers(input);
          const owned = ownedDomains(input.matched, input.disabled);
          const inAd = new Set(entries.map(([e]) => e.toLowerCase()));
          for (const u of r.users) {
            expect(u.role).not.toBe('owner');
            expect(inAd.has(u.email.toLowerCase())).toBe(false);
            expect(owned.has(u.email.toLowerCase().split('@')[1] ?? '')).toBe(true);
            expect(u.reason).toBe(input.disabled.emails.has(u.email.toLowerCase()) ? 'Disabled' : 'NotInDirectory');
          }
          // and every Truetask user that fits is listed
          const expected = users.filter(([e, role]) => role !== 'owner' && !inAd.has(e.toLowerCase()) && owned.has(e.toLowerCase().split('@')[1] ?? ''));
          expect(r.users).toHaveLength(expected.length);
          expect(r.disabled + r.notInDirectory).toBe(r.users.length);
          const keys = r.users.map((u) => u.email.toLowerCase());
          expect(keys).toEqual([...keys].sort());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('finds disabled accounts with a filter composed as objects: person accounts with the email attribute and ACCOUNTDISABLE set', () => {
    expect(disabledAccountsFilter('userPrincipalName').toString()).toBe(
      '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(userAccountControl:1.2.840.113556.1.4.803:=2))',
    );
    expect(disabledAccountsFilter('mail').toString()).toBe('(&(objectCategory=person)(objectClass=user)(mail=*)(userAccountControl:1.2.840.113556.1.4.803:=2))');
    // what it sends is what the project's own filter parser reads back from that text
    expect(parseFilter(disabledAccountsFilter('mail').toString()).toString()).toBe(disabledAccountsFilter('mail').toString());
  });
});

describe('what adsync report leavers prints', () => {
  it('JSON: the status names with every leaver and the owned domains; a table that says when there is nobody', () => {
    const r = findLeavers({ matched: [m('a@corp.example.com')], disabled: { emails: new Set(['b@corp.example.com']), excludedEmails: new Set() }, existing: [tt('b@corp.example.com', 'admin', 'Bee')] });
    expect(leaversJson(r, new Date('2026-11-25T10:00:00Z'))).toEqual({
      generatedAt: '2026-11-25T10:00:00.000Z',
      disabled: 1,
      notInDirectory: 0,
      ownedDomains: ['corp.example.com'],
      users: [{ email: 'b@corp.example.com', name: 'Bee', role: 'admin', reason: 'Disabled' }],
    });
    expect(leaversTable(r).split('\n').slice(-2)).toEqual(['REASON    EMAIL               NAME  ROLE', 'Disabled  b@corp.example.com  Bee   admin']);
    const empty = leaversTable(findLeavers({ matched: [], disabled: none, existing: [] }));
    expect(empty).toMatch(/^Leavers: +0 disabled in AD, 0 not in the directory/);
    expect(empty).toMatch(/^Domains: +none \(no directory user has a usable email\)$/m);
    expect(empty).toMatch(/No leavers/);
  });
});

describe('status.leavers', () => {
  const report = (n: number) =>
    findLeavers({
      matched: [m('keep@corp.example.com')],
      disabled: { emails: new Set(Array.from({ length: n }, (_, i) => `u${String(i).padStart(6, '0')}@corp.example.com`).filter((_, i) => i % 2 === 0)), excludedEmails: new Set() },
      existing: Array.from({ length: n }, (_, i) => tt(`u${String(i).padStart(6, '0')}@corp.example.com`, 'user', `User ${i}`)),
    });

  it('holds the counts of every leaver and the first 100 by email; small and valid whatever their number', () => {
    const s = leaversStatus(report(100_000), '2026-11-25T10:00:05Z');
    expect(s).toMatchObject({ generatedAt: '2026-11-25T10:00:05Z', disabled: 50_000, notInDirectory: 50_000, truncated: true, stale: false });
    expect(s.users).toHaveLength(MAX_LEAVERS);
    expect(s.users[0]).toEqual({ email: 'u000000@corp.example.com', name: 'User 0', role: 'user', reason: 'Disabled' });
    expect(s.users[1]?.reason).toBe('NotInDirectory');
    expect(Buffer.byteLength(JSON.stringify(s))).toBeLessThan(16 * 1024);
    expect(adSyncStatusSchema.safeParse({ leavers: s }).success).toBe(true);
    expect(leaversStatus(report(4), 'x')).toMatchObject({ truncated: false, disabled: 2, notInDirectory: 2 });
  });

  it('a full run replaces it; a run without a report keeps it as it was; a failed full run marks it stale and keeps the counts', () => {
    const before = leaversStatus(report(4), '2026-11-25T10:00:00Z');
    expect(leaversAfterRun(before, report(6), '2026-11-25T11:00:00Z')).toMatchObject({ generatedAt: '2026-11-25T11:00:00Z', disabled: 3, stale: false });
    expect(leaversAfterRun(before, undefined, '2026-11-25T11:00:00Z')).toBe(before);
    expect(leaversAfterRun(undefined, undefined, 'x')).toBeUndefined();
    const stale = leaversAfterFailure(before);
    expect(stale).toEqual({ ...before, stale: true });
    expect(leaversAfterFailure(before, false)).toBe(before); // a failed run that was not full says nothing about it
    expect(leaversAfterFailure(undefined)).toBeUndefined();
    // the next full run that succeeds makes it fresh again
    expect(leaversAfterRun(stale, report(4), 'y')).toMatchObject({ stale: false, generatedAt: 'y' });
  });
});

describe('a run with the leavers report', () => {
  const cfg = {
    read: { baseDN: 'DC=corp', pageSize: 100, userFilter: parseFilter('(x=*)'), emailAttribute: 'mail', adminPromotion: { enabled: true, groups: ['G'], nested: true } },
    excludedOUs: [parseDn('OU=Svc,DC=corp')],
    truetask: { url: 'http://x', token: 't', insecureSkipVerify: false, timeoutSeconds: 1 },
  } as unknown as EngineConfig;
  const entry = (cn: string, email: string, ou = 'OU=Staff'): DirectoryEntry => {
    const dn = `CN=${cn},${ou},DC=corp`;
    return { dn, name: cn, email };
  };

  /** An in-memory Truetask recording every call. */
  const truetask = (users: ExistingUser[]) => {
    const calls: string[] = [];
    const port: TruetaskPort = {
      listUsers: async () => {
        calls.push('list');
        return users.map((u) => ({ ...u }));
      },
      checkAccess: async () => ({ totalUsers: users.length }),
      findUserByEmail: async (email) => users.find((u) => u.email.toLowerCase() === email.toLowerCase()),
      createUser: async (input) => {
        calls.push(`create ${input.email}`);
        return { id: `n${calls.length}`, email: input.email, name: input.name, role: input.role };
      },
      setRole: async (id, role) => {
        const u = users.find((x) => x.id === id)!;
        calls.push(`promote ${u.email}`);
        return { ...u, role };
      },
    };
    return { port, calls };
  };

  it('reports leavers without another Truetask request and without changing the plan or the writes (property)', async () => {
    const names = ['ann', 'bob', 'cy', 'dee', 'eve'];
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(names),
        fc.subarray(names),
        fc.subarray(names),
        fc.constantFrom<'preview' | 'sync'>('preview', 'sync'),
        async (inAd, disabledInAd, inTruetask, kind) => {
          const entries = [...inAd.map((n) => entry(n, `${n}@corp.com`)), entry('svc', 'svc@corp.com', 'OU=Svc')];
          const seeded = [...inTruetask.map((n, i) => tt(`${n}@corp.com`, i % 2 ? 'admin' : 'user')), tt('own@corp.com', 'owner')];
          const users = () => seeded.map((u) => ({ ...u }));
          const readAD = async () => ({
            read: { entries, adminGroups: [{ ref: 'G', found: true, dn: 'CN=G', members: new Set(entries.slice(0, 1).map((e) => dnKey(e.dn))) }] },
            containers: [],
            disabled: { emails: new Set(disabledInAd.map((n) => `${n}@corp.com`)), excludedEmails: new Set<string>(), entries: disabledInAd.length },
          });
          const logger = pino({ level: 'silent' });
          const a = truetask(users());
          const b = truetask(users());
          const withReport = await runEngine(cfg, kind, { logger, truetask: a.port, isConflict: () => false, readAD });
          const without = await runEngine(cfg, kind, { logger, truetask: b.port, isConflict: () => false, readAD, withLeavers: false });
          expect(withReport.plan).toEqual(without.plan);
          expect(a.calls).toEqual(b.calls);
          expect(a.calls.filter((c) => c === 'list')).toHaveLength(1);
          if (kind === 'preview') expect(a.calls).toEqual(['list']);
          expect(without.leavers).toBeUndefined();
          expect(withReport.full).toBe(true);
          const expected = inTruetask.filter((n) => !inAd.includes(n)).map((n) => `${n}@corp.com`);
          expect(withReport.leavers?.users.map((u) => u.email)).toEqual(expected);
          expect(withReport.leavers?.users.filter((u) => u.reason === 'Disabled').map((u) => u.email)).toEqual(expected.filter((e) => disabledInAd.some((n) => e.startsWith(`${n}@`))));
        },
      ),
      { numRuns: 100 },
    );
  });
});
