// Changed-only runs (uSNChanged) on a real Samba DC of its own (copied from the test
// template, so this file's changes and USNs are its own): after a full sync, a run
// that reads only what changed since the DC's highestCommittedUSN picks up a new
// user, a user moved out of an excluded OU and a user added to a nested admin group,
// reading only those entries; it never creates what a full run would not (a user in
// an excluded OU, an entry the filter no longer matches); and a DC restored from an
// older copy (same identity, USN gone back) makes the run a full one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineConfig } from '../../src/config/engine-config.ts';
import { MAX_BASE_READS } from '../../src/ldap/changed.ts';
import { DirectorySession, type LdapConnectionConfig } from '../../src/ldap/session.ts';
import type { Logger } from '../../src/log.ts';
import type { RunReport } from '../../src/reconcile/engine.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { engineConfig, runOnce } from '../support/engine-run.ts';
import { addMember, addUser, modifyEntry, startSambaAD, withAdmin, type SambaAD } from '../support/samba.ts';
import { TOKEN, TOKEN_NAME } from '../support/scenario.ts';

let ad: SambaAD;
let sim: TruetaskSimulator;
let cfg: EngineConfig;
let last: RunReport;
const D = () => ad.baseDN;
const EXCLUDED = () => `OU=Service Accounts,${D()}`;
const BULK_ADMINS = () => `CN=Bulk-Admins,OU=Groups,${D()}`;

/** A changed-only sync from where the last run left off. */
/** What each run searched for (the names of its searches), in order. */
let searched: string[] = [];

async function openCounting(c: LdapConnectionConfig, l: Logger): Promise<DirectorySession> {
  const session = await DirectorySession.open(c, l);
  return new Proxy(session, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (prop === 'search' || prop === 'pagedSearch') searched.push(String(args[0]));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

async function changedRun(kind: 'sync' | 'preview' = 'sync'): Promise<RunReport> {
  const since = last.server;
  if (!since) throw new Error('no server in the last report');
  searched = [];
  const report = await runOnce(cfg, kind, { changedSince: since, openDirectory: openCounting });
  if (kind === 'sync') last = report;
  return report;
}

function changes(r: RunReport): string[] {
  return r.plan.changes.map((c) => `${c.kind} ${c.email}${c.kind === 'create' ? ` ${c.role}` : ''}`);
}

async function move(dn: string, newParent: string): Promise<string> {
  const rdn = dn.slice(0, dn.search(/(?<!\\),/));
  const to = `${rdn},${newParent}`;
  await withAdmin(ad, (c) => c.modifyDN(dn, to));
  return to;
}

beforeAll(async () => {
  ad = await startSambaAD();
  sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], passwordHashCost: 2 });
  cfg = await engineConfig({ ad, truetaskUrl: sim.url, mode: 'Sync' });
  // Before the first full sync: a user waiting in the excluded OU (moved out later).
  await addUser(ad, { cn: 'Olive Outbound', parentDN: EXCLUDED(), sAMAccountName: 'olive.outbound', userPrincipalName: 'olive.outbound@corp.example.com', displayName: 'Olive Outbound' });
  // ... and one that is also a member of an admin group (Platform-Admins, nested in IT-Admins).
  const adam = await addUser(ad, { cn: 'Adam Waiting', parentDN: EXCLUDED(), sAMAccountName: 'adam.waiting', userPrincipalName: 'adam.waiting@corp.example.com' });
  await addMember(ad, `CN=Platform-Admins,OU=Groups,${D()}`, adam);
  last = await runOnce(cfg, 'sync');
}, 300_000);

afterAll(async () => {
  await sim?.close();
  await ad?.stop();
});

describe('changed-only runs on a real DC', () => {
  it('the first run is a full one and remembers the DC and its USN', () => {
    expect(last.full).toBe(true);
    expect(last.apply?.result).toBe('Succeeded');
    expect(last.server).toMatchObject({ url: ad.ldapsUrl, dsServiceName: expect.stringMatching(/^CN=NTDS Settings,/), highestCommittedUSN: expect.any(Number) });
    expect(sim.users().map((u) => u.email)).not.toContain('olive.outbound@corp.example.com');
    expect(sim.users().map((u) => u.email)).not.toContain('adam.waiting@corp.example.com');
  });

  it('nothing changed: reads no entry, asks Truetask nothing, writes nothing', async () => {
    const before = sim.requests();
    const r = await changedRun();
    expect([r.full, r.entriesRead, r.plan.changes.length]).toEqual([false, 0, 0]);
    expect(sim.requests() - before).toBe(0);
    expect(searched).toEqual(['the root DSE', expect.stringMatching(/^the DC's NTDS Settings/), expect.stringMatching(/^objects changed since USN \d+$/)]);
  });

  it('a new user: read alone, looked up by email, created', async () => {
    await addUser(ad, { cn: 'Nina New', parentDN: `OU=Sales,OU=Staff,${D()}`, sAMAccountName: 'nina.new', userPrincipalName: 'nina.new@corp.example.com', displayName: 'Nina New' });
    const before = { get: sim.requests('GET'), all: sim.requests() };
    const r = await changedRun();
    expect([r.full, r.entriesRead]).toEqual([false, 1]);
    expect(changes(r)).toEqual(['create nina.new@corp.example.com user']);
    // In no group: the admin groups are not even looked at.
    expect(searched.slice(2)).toEqual([expect.stringMatching(/^objects changed since USN/), expect.stringMatching(/^the changed entry CN=Nina New,/)]);
    expect(r.apply?.created).toBe(1);
    // One lookup (GET ?email=) and one create: no listing of every user.
    expect([sim.requests('GET') - before.get, sim.requests() - before.all]).toEqual([1, 2]);
  });

  it('a user moved out of an excluded OU is created; one created in an excluded OU or no longer matched is not', async () => {
    await move(`CN=Olive Outbound,${EXCLUDED()}`, `OU=Sales,OU=Staff,${D()}`);
    await addUser(ad, { cn: 'Ian Inbound', parentDN: EXCLUDED(), sAMAccountName: 'ian.inbound', userPrincipalName: 'ian.inbound@corp.example.com' });
    // Disabled since the last run: the filter no longer matches it (and it already exists: nothing would be written anyway).
    await modifyEntry(ad, `CN=Katherine Johnson,OU=Sales,OU=Staff,${D()}`, { userAccountControl: '514' });
    const r = await changedRun();
    expect([r.full, r.entriesRead]).toEqual([false, 2]);
    expect(changes(r)).toEqual(['create olive.outbound@corp.example.com user']);
    expect(r.plan.rows.find((x) => x.email === 'ian.inbound@corp.example.com')?.action).toBe('exclude');
  });

  it('a user added to a nested admin group (its group changes, not the user) is promoted, reading only that group\'s members', async () => {
    const alan = `CN=Alan Turing,OU=Engineering,OU=Staff,${D()}`;
    expect(sim.users().find((u) => u.email === 'alan.turing@corp.example.com')?.role).toBe('user');
    // Bulk-Admins is two levels below IT-Admins and has no other member.
    await addMember(ad, BULK_ADMINS(), alan);
    const r = await changedRun();
    expect([r.full, r.entriesRead]).toEqual([false, 1]);
    expect(changes(r)).toEqual(['promote alan.turing@corp.example.com']);
    expect(sim.users().find((u) => u.email === 'alan.turing@corp.example.com')?.role).toBe('admin');
  });

  it('a user moved out of an excluded OU who is in an admin group is created as an admin', async () => {
    await move(`CN=Adam Waiting,${EXCLUDED()}`, `OU=Sales,OU=Staff,${D()}`);
    const r = await changedRun();
    expect(r.full).toBe(false);
    expect(changes(r)).toEqual(['create adam.waiting@corp.example.com admin']);
    expect(sim.users().find((u) => u.email === 'adam.waiting@corp.example.com')?.role).toBe('admin');
  });

  it('without admin promotion: the same changes, admin-group members as users, no group read', async () => {
    const noPromotion = await engineConfig({ ad, truetaskUrl: sim.url, mode: 'Sync', spec: { adminPromotion: { enabled: false, groups: [] } } });
    const dn = await addUser(ad, { cn: 'Pia Plain', parentDN: `OU=Sales,OU=Staff,${D()}`, sAMAccountName: 'pia.plain', userPrincipalName: 'pia.plain@corp.example.com' });
    await addMember(ad, `CN=IT-Admins,OU=Groups,${D()}`, dn);
    searched = [];
    const r = await runOnce(noPromotion, 'preview', { changedSince: last.server!, openDirectory: openCounting });
    expect([r.full, r.entriesRead]).toEqual([false, 1]);
    expect(changes(r)).toEqual(['create pia.plain@corp.example.com user']);
    expect(searched.filter((x) => /admin group|nested in|members of/.test(x))).toEqual([]);
    // With promotion (the other tests' spec), the same change makes an admin.
    expect(changes(await changedRun())).toEqual(['create pia.plain@corp.example.com admin']);
  });

  it(`more changed objects than MAX_BASE_READS (${MAX_BASE_READS}): one subtree search reads them, with the same result`, async () => {
    const n = MAX_BASE_READS + 5;
    for (let i = 0; i < n; i++) {
      await addUser(ad, { cn: `Batch ${i}`, parentDN: `OU=Sales,OU=Staff,${D()}`, sAMAccountName: `batch.${i}`, userPrincipalName: `batch.${i}@corp.example.com` });
    }
    const dn = await addUser(ad, { cn: 'Batch Admin', parentDN: `OU=Sales,OU=Staff,${D()}`, sAMAccountName: 'batch.admin', userPrincipalName: 'batch.admin@corp.example.com' });
    await addMember(ad, `CN=Platform-Admins,OU=Groups,${D()}`, dn);
    const r = await changedRun();
    expect(r.full).toBe(false);
    expect(searched.filter((x) => x.startsWith('the changed entry'))).toEqual([]);
    expect(searched.filter((x) => x.startsWith('users changed since USN'))).toHaveLength(1);
    // The new users, and the other members of the changed admin group (Platform-Admins).
    expect(changes(r)).toEqual(['create batch.admin@corp.example.com admin', ...Array.from({ length: n }, (_, i) => `create batch.${i}@corp.example.com user`)].sort());
  });

  it('a DC restored from an older copy (same identity, USN gone back) makes the run a full one', async () => {
    const ip = ad.ip;
    const before = last.server;
    await ad.stop();
    // The template this DC was copied from: the same DC before every change above.
    ad = await startSambaAD({ ip });
    const r = await changedRun('preview');
    expect(r.server?.invocationId).toBe(before?.invocationId);
    expect(r.server?.highestCommittedUSN).toBeLessThan(before?.highestCommittedUSN ?? 0);
    expect(r.full).toBe(true);
    expect(r.fullReason).toMatch(/highestCommittedUSN went back from \d+ to \d+/);
    expect(r.entriesRead).toBe(r.plan.rows.length);
  });
});
