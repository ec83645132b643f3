import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pino } from 'pino';
import { AdSyncError } from '../../src/errors.ts';
import { redactPaths } from '../../src/log.ts';
import { applyPlan, generatePassword, type WrittenUser } from '../../src/reconcile/apply.ts';
import { runEngine, type TruetaskPort } from '../../src/reconcile/engine.ts';
import { dnKey, parseDn } from '../../src/ldap/dn.ts';
import { parseFilter } from '../../src/ldap/filter.ts';
import type { DirectoryEntry } from '../../src/ldap/reader.ts';
import type { EngineConfig } from '../../src/config/engine-config.ts';
import { plan, type ExistingUser, type Plan } from '../../src/reconcile/plan.ts';

class Conflict extends Error {}

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'debug', redact: redactPaths }, stream), lines };
}

/** An in-memory Truetask that records every write. */
function fakeTruetask(existing: ExistingUser[] = [], faults: { failCreate?: (email: string) => AdSyncError | undefined; conflictAfterWrite?: Set<string> } = {}) {
  const users = existing.map((u) => ({ ...u }));
  const writes: Array<{ op: string; email: string; password?: string }> = [];
  const port: TruetaskPort = {
    async listUsers() {
      return users.map((u) => ({ ...u }));
    },
    async checkAccess() {
      return { totalUsers: users.length };
    },
    async findUserByEmail(email) {
      return users.find((u) => u.email.toLowerCase() === email.toLowerCase());
    },
    async createUser(input) {
      const err = faults.failCreate?.(input.email);
      if (err) throw err;
      if (users.some((u) => u.email.toLowerCase() === input.email.toLowerCase())) throw new Conflict('409');
      const u: ExistingUser = { id: `id${users.length}`, email: input.email, name: input.name, role: input.role };
      users.push(u);
      writes.push({ op: 'create', email: input.email, password: input.password });
      if (faults.conflictAfterWrite?.delete(input.email)) throw new Conflict('409 after our own dropped write');
      return u;
    },
    async setRole(id, role) {
      const u = users.find((x) => x.id === id);
      if (!u) throw new AdSyncError('truetask', 'TruetaskRejected', 'retry', 'not found');
      u.role = role;
      writes.push({ op: 'promote', email: u.email });
      return u as WrittenUser;
    },
  };
  return { port, users, writes };
}

const entry = (cn: string, email: string): DirectoryEntry => {
  const dn = `CN=${cn},OU=Staff,DC=corp`;
  return { dn, name: cn, email };
};

function planFor(entries: DirectoryEntry[], existing: ExistingUser[], admins: string[] = []): Plan {
  return plan({ entries, adminMembers: new Set(admins.map((a) => parseDn(`CN=${a},OU=Staff,DC=corp`).key)), excludedOUs: [], existing, promotion: true, emailAttribute: 'mail' });
}

const isConflict = (e: unknown) => e instanceof Conflict;

describe('applying a plan', () => {
  it('creates and promotes exactly what was planned, with a fresh strong password each', async () => {
    const tt = fakeTruetask([{ id: 'u1', email: 'bob@corp.com', name: 'Bob', role: 'user' }]);
    const p = planFor([entry('Ada', 'ada@corp.com'), entry('Bob', 'bob@corp.com'), entry('Cy', 'cy@corp.com')], tt.users, ['Bob']);
    const { logger, lines } = capture();
    const r = await applyPlan(p, tt.port, { concurrency: 2, logger, isConflict });
    expect(r).toMatchObject({ created: 2, promoted: 1, failed: 0 });
    expect(tt.writes.map((w) => `${w.op}:${w.email}`).sort()).toEqual(['create:ada@corp.com', 'create:cy@corp.com', 'promote:bob@corp.com']);
    const passwords = tt.writes.filter((w) => w.password).map((w) => w.password!);
    expect(new Set(passwords).size).toBe(2);
    for (const pw of passwords) {
      expect(pw.length).toBeGreaterThanOrEqual(24);
      expect(lines.join('')).not.toContain(pw);
    }
    // one audit line per created or promoted user
    const audit = lines.map((l) => JSON.parse(l) as { audit?: boolean; action?: string }).filter((l) => l.audit);
    expect(audit.map((a) => a.action).sort()).toEqual(['create', 'create', 'promote']);
  });

  it('a failure on one user does not stop the others and is reported per user', async () => {
    const tt = fakeTruetask([], { failCreate: (e) => (e === 'bad@corp.com' ? new AdSyncError('truetask', 'TruetaskRejected', 'fix-config', 'email: invalid') : undefined) });
    const p = planFor([entry('A', 'a@corp.com'), entry('Bad', 'bad@corp.com'), entry('C', 'c@corp.com')], []);
    const r = await applyPlan(p, tt.port, { concurrency: 1, logger: capture().logger, isConflict });
    expect(r.created).toBe(2);
    expect(r.failed).toBe(1);
    expect(r.failures).toEqual([{ email: 'bad@corp.com', action: 'create', reason: 'TruetaskRejected', message: 'email: invalid' }]);
  });

  it('stops writing after the token is refused instead of failing every user against Truetask', async () => {
    let calls = 0;
    const tt = fakeTruetask([], {
      failCreate: () => {
        calls++;
        return new AdSyncError('truetask', 'Unauthorized', 'fix-config', 'token refused');
      },
    });
    const p = planFor([entry('A', 'a@corp.com'), entry('B', 'b@corp.com'), entry('C', 'c@corp.com')], []);
    const r = await applyPlan(p, tt.port, { concurrency: 1, logger: capture().logger, isConflict });
    expect(calls).toBe(1);
    expect(r.failed).toBe(3);
    expect(r.abortedBy?.reason).toBe('Unauthorized');
  });

  it('cancelled (leadership lost): no change starts after the signal aborts, nothing is reported as failed, and it throws', async () => {
    const cancel = new AbortController();
    const tt = fakeTruetask([], {
      failCreate: (e) => {
        // The second create aborts the run while in flight (its request is aborted too).
        if (e === 'b@corp.com') {
          cancel.abort(new Error('leadership lost'));
          return new AdSyncError('truetask', 'TruetaskUnreachable', 'retry', 'aborted');
        }
        return undefined;
      },
    });
    const p = planFor([entry('A', 'a@corp.com'), entry('B', 'b@corp.com'), entry('C', 'c@corp.com'), entry('D', 'd@corp.com')], []);
    const failures: string[] = [];
    await expect(applyPlan(p, tt.port, { concurrency: 1, logger: capture().logger, isConflict, signal: cancel.signal, onFailure: (f) => failures.push(f.email) })).rejects.toThrow('leadership lost');
    expect(tt.writes.map((w) => w.email)).toEqual(['a@corp.com']);
    expect(failures).toEqual([]);
  });

  it('a create answered 409 is checked, not repeated; an admin still gets promoted', async () => {
    const tt = fakeTruetask([], { conflictAfterWrite: new Set(['ada@corp.com']) });
    const p = planFor([entry('Ada', 'ada@corp.com')], []);
    const r = await applyPlan(p, tt.port, { concurrency: 1, logger: capture().logger, isConflict });
    expect(r).toMatchObject({ created: 0, alreadyDone: 1, failed: 0 });
    expect(tt.users.filter((u) => u.email === 'ada@corp.com')).toHaveLength(1);

    // Someone created Cy as user meanwhile; the plan wanted admin: the 409 leads to a promotion.
    const tt2 = fakeTruetask([]);
    const p2 = planFor([entry('Cy', 'cy@corp.com')], [], ['Cy']);
    tt2.users.push({ id: 'x', email: 'CY@corp.com', name: 'Cy', role: 'user' });
    const r2 = await applyPlan(p2, tt2.port, { concurrency: 1, logger: capture().logger, isConflict });
    expect(r2).toMatchObject({ created: 0, promoted: 1 });
    expect(tt2.users[0]?.role).toBe('admin');
  });

  it('never lowers a role raised after planning (user made owner meanwhile)', async () => {
    const tt = fakeTruetask([{ id: 'u1', email: 'bob@corp.com', name: 'Bob', role: 'user' }]);
    const p = planFor([entry('Bob', 'bob@corp.com')], tt.users, ['Bob']);
    tt.users[0]!.role = 'owner';
    const r = await applyPlan(p, tt.port, { concurrency: 1, logger: capture().logger, isConflict });
    expect(r).toMatchObject({ promoted: 0, alreadyDone: 1 });
    expect(tt.users[0]?.role).toBe('owner');
    expect(tt.writes).toEqual([]);
  });

  it('generated passwords are long and distinct', () => {
    const seen = new Set(Array.from({ length: 200 }, generatePassword));
    expect(seen.size).toBe(200);
    for (const p of seen) expect(p).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});

describe('a run', () => {
  const cfg = {
    read: { baseDN: 'DC=corp', pageSize: 100, userFilter: parseFilter('(x=*)'), emailAttribute: 'mail', adminPromotion: { enabled: true, groups: ['G'], nested: true } },
    excludedOUs: [],
    truetask: { url: 'http://x', token: 't', insecureSkipVerify: false, timeoutSeconds: 1 },
  } as unknown as EngineConfig;

  it('in preview never writes, whatever the directory and Truetask hold (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 5 }),
        fc.uniqueArray(fc.record({ e: fc.constantFrom('a', 'b', 'c', 'x'), role: fc.constantFrom<'owner' | 'admin' | 'user'>('owner', 'admin', 'user') }), { selector: (u) => u.e }),
        async (names, existing) => {
          const tt = fakeTruetask(existing.map((u, i) => ({ id: `i${i}`, email: `${u.e}@corp.com`, name: u.e, role: u.role })));
          const entries = names.map((n) => entry(n, `${n}@corp.com`));
          const report = await runEngine(cfg, 'preview', {
            logger: capture().logger,
            truetask: tt.port,
            isConflict,
            readAD: async () => ({ read: { entries, adminGroups: [{ ref: 'G', found: true, dn: 'CN=G', members: new Set(entries.map((e) => dnKey(e.dn))) }] }, containers: [] }),
          });
          expect(tt.writes).toEqual([]);
          expect(report.apply).toBeUndefined();
        },
      ),
      { numRuns: 50 },
    );
  });

  it('a failed directory read writes nothing to Truetask', async () => {
    const tt = fakeTruetask([]);
    await expect(
      runEngine(cfg, 'sync', {
        logger: capture().logger,
        truetask: tt.port,
        isConflict,
        readAD: async () => {
          throw new AdSyncError('directory', 'ConnectionLost', 'retry', 'dropped mid-read');
        },
      }),
    ).rejects.toThrow(/dropped mid-read/);
    expect(tt.writes).toEqual([]);
  });
});
