import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dnKey, parseDn } from '../../src/ldap/dn.ts';
import type { DirectoryEntry } from '../../src/ldap/reader.ts';
import { nameOf, type NameAttributes } from '../../src/rules/names.ts';
import { plan, type ExistingUser, type PlanInput, type Role } from '../../src/reconcile/plan.ts';

const base = 'DC=corp,DC=example,DC=com';
/** An entry as the reader makes it from these attributes (cn from the RDN unless given). */
function entry(cn: string, ou: string, attrs: NameAttributes & { email?: string } = {}): DirectoryEntry {
  const dn = `CN=${cn},${ou},${base}`;
  const { email, ...names } = attrs;
  const name = nameOf({ cn: cn.replace(/\\/g, ''), ...names });
  return { dn, ...(email === undefined ? {} : { email }), ...(name === undefined ? {} : { name }) };
}
function input(over: Partial<PlanInput>): PlanInput {
  return { entries: [], adminMembers: new Set(), excludedOUs: [], existing: [], promotion: false, emailAttribute: 'userPrincipalName', ...over };
}
const user = (email: string, role: Role, id = email.replace(/\W/g, '').slice(0, 15)): ExistingUser => ({ id, email, name: email, role });

describe('planner: rules of a sync', () => {
  const ada = entry('Ada', 'OU=Engineering,OU=Staff', { email: 'ada@corp.example.com', displayName: 'Ada Lovelace' });
  const bob = entry('Bob', 'OU=Sales,OU=Staff', { email: ' Bob@Corp.Example.com ', givenName: 'Bob', sn: 'Builder' });
  const svc = entry('svc-backup', 'OU=Service Accounts', { email: 'svc-backup@corp.example.com' });
  const noMail = entry('Nomail', 'OU=Sales,OU=Staff');
  const badMail = entry('Bad', 'OU=Sales,OU=Staff', { email: 'not-an-address' });

  it('rule 1: a new entry is created as user, with trimmed email and its name', () => {
    const p = plan(input({ entries: [ada, bob] }));
    expect(p.changes).toEqual([
      { kind: 'create', email: 'ada@corp.example.com', name: 'Ada Lovelace', role: 'user', dns: [ada.dn] },
      { kind: 'create', email: 'Bob@Corp.Example.com', name: 'Bob Builder', role: 'user', dns: [bob.dn] },
    ]);
    expect(p.summary).toEqual({ directoryUsers: 2, excluded: 0, skipped: 0, toCreate: 2, toPromote: 0, unchanged: 0 });
  });

  it('rule 1: an admin-group member is created as admin only when promotion is on', () => {
    const members = new Set([dnKey(ada.dn)]);
    expect(plan(input({ entries: [ada], adminMembers: members, promotion: true })).changes[0]).toMatchObject({ kind: 'create', role: 'admin' });
    expect(plan(input({ entries: [ada], adminMembers: members, promotion: false })).changes[0]).toMatchObject({ kind: 'create', role: 'user' });
  });

  it('rule 2: an existing user whose role would not change is not written (email compared case-insensitively)', () => {
    const p = plan(input({ entries: [bob], existing: [user('bob@corp.example.com', 'user')] }));
    expect(p.changes).toEqual([]);
    expect(p.rows[0]).toMatchObject({ action: 'unchanged', role: 'user' });
  });

  it('rule 3: an existing user now in an admin group is promoted', () => {
    const p = plan(input({ entries: [ada], existing: [user('ADA@corp.example.com', 'user', 'id1')], adminMembers: new Set([dnKey(ada.dn)]), promotion: true }));
    expect(p.changes).toEqual([{ kind: 'promote', email: 'ADA@corp.example.com', name: 'ADA@corp.example.com', userId: 'id1', dns: [ada.dn] }]);
    expect(p.summary.toPromote).toBe(1);
  });

  it.each<Role>(['owner', 'admin'])('rule 4: an existing %s is never changed, in or out of admin groups', (role) => {
    for (const members of [new Set<string>(), new Set([dnKey(ada.dn)])]) {
      const p = plan(input({ entries: [ada], existing: [user('ada@corp.example.com', role)], adminMembers: members, promotion: true }));
      expect(p.changes).toEqual([]);
      expect(p.rows[0]).toMatchObject({ action: 'unchanged', role });
    }
  });

  it('rule 5: Truetask users absent from AD are left alone', () => {
    const p = plan(input({ entries: [], existing: [user('gone@corp.example.com', 'user'), user('owner@corp.example.com', 'owner')] }));
    expect(p.changes).toEqual([]);
    expect(p.rows).toEqual([]);
  });

  it('rule 8: excluded OUs exclude everything below them, compared as DNs', () => {
    const deep = entry('Deep', 'OU=Nested,OU=Service Accounts', { email: 'deep@corp.example.com' });
    const p = plan(input({ entries: [ada, svc, deep], excludedOUs: [parseDn('ou=service accounts, dc=CORP,dc=example,dc=com')] }));
    expect(p.changes.map((c) => c.email)).toEqual(['ada@corp.example.com']);
    expect(p.summary.excluded).toBe(2);
    expect(p.rows.filter((r) => r.action === 'exclude').map((r) => r.dn).sort()).toEqual([deep.dn, svc.dn].sort());
  });

  it('rule 9: no email or an invalid one is skipped with a reason', () => {
    const p = plan(input({ entries: [noMail, badMail] }));
    expect(p.changes).toEqual([]);
    expect(p.summary.skipped).toBe(2);
    expect(p.rows.find((r) => r.dn === noMail.dn)?.reason).toBe('no userPrincipalName');
    expect(p.rows.find((r) => r.dn === badMail.dn)?.reason).toMatch(/^invalid userPrincipalName "not-an-address"/);
  });

  it('rule 10: two entries with the same email make one user, admin if either is', () => {
    const a1 = entry('Pat One', 'OU=Sales,OU=Staff', { email: 'pat@corp.example.com', displayName: 'Pat' });
    const a2 = entry('Pat Two', 'OU=Engineering,OU=Staff', { email: 'PAT@corp.example.com', displayName: 'Pat T' });
    const p = plan(input({ entries: [a1, a2], adminMembers: new Set([dnKey(a2.dn)]), promotion: true }));
    expect(p.changes).toHaveLength(1);
    expect(p.changes[0]).toMatchObject({ kind: 'create', role: 'admin' });
    expect(p.summary).toMatchObject({ directoryUsers: 2, toCreate: 1 });
    expect(p.rows.filter((r) => r.action === 'create')).toHaveLength(2);
    expect(p.rows.some((r) => r.reason.includes('same email as'))).toBe(true);
  });

  it('rule 11 when an entry is read: displayName, else givenName sn, else cn (trimmed, blanks ignored)', () => {
    expect(nameOf({ displayName: ' Ada Lovelace ', givenName: 'A', sn: 'L', cn: 'ada' })).toBe('Ada Lovelace');
    expect(nameOf({ displayName: '  ', givenName: 'Bob', sn: ' Builder', cn: 'bob' })).toBe('Bob Builder');
    expect(nameOf({ sn: 'Hopper', cn: 'grace' })).toBe('Hopper');
    expect(nameOf({ cn: 'Smith, John' })).toBe('Smith, John');
    expect(nameOf({})).toBeUndefined();
  });

  it('rule 11: displayName, else givenName sn, else cn', () => {
    const onlyCn = entry('Smith\\, John', 'OU=Sales,OU=Staff', { email: 'js@corp.example.com', cn: 'Smith, John' });
    const p = plan(input({ entries: [ada, bob, onlyCn] }));
    expect(p.changes.map((c) => c.name)).toEqual(['Ada Lovelace', 'Bob Builder', 'Smith, John']);
  });

  it('has a row for every entry, sorted by email', () => {
    const p = plan(input({ entries: [svc, bob, noMail, ada], excludedOUs: [parseDn(`OU=Service Accounts,${base}`)] }));
    expect(p.rows).toHaveLength(4);
    expect(p.rows.map((r) => r.action).sort()).toEqual(['create', 'create', 'exclude', 'skip']);
  });
});

// ---- properties -------------------------------------------------------------

const emails = ['ada@x.com', 'bob@x.com', 'cy@x.com', 'dee@x.com', 'eve@x.com', 'bad-address', ''];
const roles: Role[] = ['owner', 'admin', 'user'];

const directoryArb = fc
  .array(
    fc.record({
      cn: fc.constantFrom('A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'),
      ou: fc.constantFrom('OU=Staff', 'OU=Eng,OU=Staff', 'OU=Service Accounts', 'CN=Users'),
      email: fc.option(fc.constantFrom(...emails).chain((e) => fc.constantFrom(e, e.toUpperCase(), ` ${e} `)), { nil: undefined }),
      admin: fc.boolean(),
    }),
    { maxLength: 20 },
  )
  .map((rows) => {
    const seen = new Set<string>();
    return rows.filter((r) => {
      const k = `${r.cn},${r.ou}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  });
const existingArb = fc.uniqueArray(fc.record({ email: fc.constantFrom(...emails.slice(0, 5)), role: fc.constantFrom(...roles) }), {
  selector: (u) => u.email,
  maxLength: 5,
});

function scenario(rows: Array<{ cn: string; ou: string; email: string | undefined; admin: boolean }>, existingRows: Array<{ email: string; role: Role }>, promotion: boolean, exclude: boolean): PlanInput {
  const entries = rows.map((r) => entry(r.cn, r.ou, r.email === undefined ? {} : { email: r.email }));
  return input({
    entries,
    adminMembers: new Set(entries.filter((_, i) => rows[i]?.admin).map((e) => dnKey(e.dn))),
    existing: existingRows.map((u, i) => user(u.email, u.role, `id${i}`)),
    excludedOUs: exclude ? [parseDn(`OU=Service Accounts,${base}`)] : [],
    promotion,
  });
}

/** Applies a plan to an in-memory Truetask, as the API would. */
function applyInMemory(existing: readonly ExistingUser[], changes: ReturnType<typeof plan>['changes']): ExistingUser[] {
  const out = existing.map((u) => ({ ...u }));
  for (const c of changes) {
    if (c.kind === 'create') out.push({ id: `new${out.length}`, email: c.email, name: c.name, role: c.role });
    else {
      const u = out.find((x) => x.id === c.userId);
      if (u) u.role = 'admin';
    }
  }
  return out;
}

describe('planner: invariants (property-based)', () => {
  it('never plans a change for an owner or admin, and only ever promotes to admin', () => {
    fc.assert(
      fc.property(directoryArb, existingArb, fc.boolean(), fc.boolean(), (rows, ex, promotion, exclude) => {
        const inp = scenario(rows, ex, promotion, exclude);
        const p = plan(inp);
        for (const c of p.changes) {
          const cur = inp.existing.find((u) => u.email.toLowerCase() === c.email.trim().toLowerCase());
          if (c.kind === 'promote') expect(cur?.role).toBe('user');
          else expect(cur).toBeUndefined();
        }
      }),
    );
  });

  it('applying a plan then planning again gives no changes', () => {
    fc.assert(
      fc.property(directoryArb, existingArb, fc.boolean(), fc.boolean(), (rows, ex, promotion, exclude) => {
        const inp = scenario(rows, ex, promotion, exclude);
        const first = plan(inp);
        const second = plan({ ...inp, existing: applyInMemory(inp.existing, first.changes) });
        expect(second.changes).toEqual([]);
        expect(second.summary.unchanged).toBe(first.summary.toCreate + first.summary.toPromote + first.summary.unchanged);
      }),
    );
  });

  it('counts add up: one row per entry; create/promote/unchanged count distinct emails', () => {
    fc.assert(
      fc.property(directoryArb, existingArb, fc.boolean(), fc.boolean(), (rows, ex, promotion, exclude) => {
        const inp = scenario(rows, ex, promotion, exclude);
        const p = plan(inp);
        const s = p.summary;
        expect(p.rows).toHaveLength(inp.entries.length);
        expect(s.directoryUsers + s.excluded + s.skipped).toBe(inp.entries.length);
        const distinct = new Set(p.rows.filter((r) => ['create', 'promote', 'unchanged'].includes(r.action)).map((r) => r.email!.toLowerCase()));
        expect(s.toCreate + s.toPromote + s.unchanged).toBe(distinct.size);
        expect(new Set(p.changes.map((c) => c.email.toLowerCase())).size).toBe(p.changes.length);
      }),
    );
  });

  it('nothing in an excluded OU is ever planned', () => {
    fc.assert(
      fc.property(directoryArb, existingArb, fc.boolean(), (rows, ex, promotion) => {
        const p = plan(scenario(rows, ex, promotion, true));
        for (const c of p.changes) for (const dn of c.dns) expect(dn).not.toMatch(/OU=Service Accounts/);
      }),
    );
  });
});
