// Property, on a real Samba DC of its own: after any random set of directory changes
// (new users anywhere, in excluded OUs too; users disabled, enabled, moved between
// OUs, into and out of excluded ones; given a new email; added to admin groups, nested
// ones, or other groups), the plan of a changed-only run equals the changes of a full
// run's plan: it never plans something the full run does not, and plans everything the
// full run does (from a synced state, everything a full run would do comes from a
// change). The changed-only sync then leaves a full run nothing to do.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineConfig } from '../../src/config/engine-config.ts';
import type { RunReport } from '../../src/reconcile/engine.ts';
import type { ServerIdentity } from '../../src/ldap/server-identity.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { engineConfig, runOnce } from '../support/engine-run.ts';
import { addMember, addUser, modifyEntry, startSambaAD, withAdmin, type SambaAD } from '../support/samba.ts';
import { TOKEN, TOKEN_NAME } from '../support/scenario.ts';

let ad: SambaAD;
let sim: TruetaskSimulator;
let cfg: EngineConfig;
let since: ServerIdentity;
/** DNs the property changes (fixture users first, new ones appended; moves update them). */
const pool: string[] = [];
let n = 0;

const OUS = ['OU=Sales,OU=Staff', 'OU=Engineering,OU=Staff', 'CN=Users', 'OU=Service Accounts', 'OU=Contractors'];
const GROUPS = ['CN=IT-Admins,OU=Groups', 'CN=Platform-Admins,OU=Groups', 'CN=Bulk-Admins,OU=Groups', 'CN=Admin,CN=Users', 'CN=Empty-Group,OU=Groups'];

type Op =
  | { op: 'add'; ou: number; group: number | null; upn: boolean }
  | { op: 'disable' | 'enable' | 'email'; user: number }
  | { op: 'move'; user: number; ou: number }
  | { op: 'join'; user: number; group: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), ou: fc.nat(OUS.length - 1), group: fc.option(fc.nat(GROUPS.length - 1)), upn: fc.boolean() }),
  fc.record({ op: fc.constantFrom('disable' as const, 'enable' as const, 'email' as const), user: fc.nat() }),
  fc.record({ op: fc.constant('move' as const), user: fc.nat(), ou: fc.nat(OUS.length - 1) }),
  fc.record({ op: fc.constant('join' as const), user: fc.nat(), group: fc.nat(GROUPS.length - 1) }),
);

const under = (rel: string) => `${rel},${ad.baseDN}`;

async function apply(op: Op): Promise<void> {
  const id = `p${Date.now().toString(36)}${n++}`;
  const pick = (i: number) => {
    const at = i % pool.length;
    return { at, dn: pool[at] as string };
  };
  switch (op.op) {
    case 'add': {
      const dn = await addUser(ad, { cn: `Prop ${id}`, parentDN: under(OUS[op.ou] as string), sAMAccountName: id, ...(op.upn ? { userPrincipalName: `${id}@corp.example.com` } : {}), displayName: `Prop ${id}` });
      if (op.group !== null) await addMember(ad, under(GROUPS[op.group] as string), dn);
      pool.push(dn);
      return;
    }
    case 'disable':
    case 'enable':
      await modifyEntry(ad, pick(op.user).dn, { userAccountControl: op.op === 'disable' ? '514' : '512' });
      return;
    case 'email':
      await modifyEntry(ad, pick(op.user).dn, { userPrincipalName: `${id}@corp.example.com` });
      return;
    case 'move': {
      const { at, dn } = pick(op.user);
      const rdn = dn.slice(0, dn.search(/(?<!\\),/));
      const to = `${rdn},${under(OUS[op.ou] as string)}`;
      if (to.toLowerCase() === dn.toLowerCase()) return;
      await withAdmin(ad, (c) => c.modifyDN(dn, to));
      pool[at] = to;
      return;
    }
    case 'join':
      await addMember(ad, under(GROUPS[op.group] as string), pick(op.user).dn).catch((err: unknown) => {
        // Already a member (entryAlreadyExists / attributeOrValueExists): nothing changed.
        if (!/exists/i.test(String(err))) throw err;
      });
  }
}

const changesOf = (r: RunReport) => r.plan.changes.map((c) => `${c.kind} ${c.email}${c.kind === 'create' ? ` ${c.role}` : ''}`).sort();

beforeAll(async () => {
  ad = await startSambaAD();
  sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], passwordHashCost: 2 });
  cfg = await engineConfig({ ad, truetaskUrl: sim.url, mode: 'Sync', spec: { excludedOUs: [under('OU=Service Accounts'), under('OU=Contractors')] } });
  for (const rel of ['CN=Alan Turing,OU=Engineering,OU=Staff', 'CN=Mary Jackson,OU=Sales,OU=Staff', 'CN=Annie Easley,OU=Sales,OU=Staff', 'CN=Carl Contractor,OU=Contractors', 'CN=svc-backup,OU=Service Accounts']) pool.push(under(rel));
  const first = await runOnce(cfg, 'sync');
  if (!first.server) throw new Error('no server');
  since = first.server;
}, 300_000);

afterAll(async () => {
  await sim?.close();
  await ad?.stop();
});

describe('changed-only runs plan exactly what a full run plans (property, real DC)', () => {
  it('for random directory changes', async () => {
    const planned = { creates: 0, promotions: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 5 }), async (ops) => {
        for (const op of ops) await apply(op);
        const full = await runOnce(cfg, 'preview');
        const changed = await runOnce(cfg, 'preview', { changedSince: since });
        expect(changed.full).toBe(false);
        expect(changesOf(changed)).toEqual(changesOf(full));
        planned.creates += full.plan.summary.toCreate;
        planned.promotions += full.plan.summary.toPromote;
        // The changed-only sync does it; a full run then finds nothing left.
        const synced = await runOnce(cfg, 'sync', { changedSince: since });
        expect(synced.apply?.result).toBe('Succeeded');
        expect(changesOf(await runOnce(cfg, 'preview'))).toEqual([]);
        if (!synced.server) throw new Error('no server');
        since = synced.server;
      }),
      // The DC keeps what each run did, so a failure is reported as found, not shrunk. The examples run
      // first, so that every run of the test has a promotion (Alan Turing into Bulk-Admins, nested two
      // levels below IT-Admins), a new admin, and a move out of an excluded OU (svc-backup, in Admin).
      {
        numRuns: 12,
        endOnFailure: true,
        examples: [[[{ op: 'join', user: 0, group: 2 }]], [[{ op: 'add', ou: 0, group: 1, upn: true }]], [[{ op: 'move', user: 4, ou: 0 }]]],
      },
    );
    // The changes made work to do: creates and promotions both happened.
    expect(planned.creates).toBeGreaterThan(0);
    expect(planned.promotions).toBeGreaterThan(0);
  }, 600_000);
});
