// `adsync report leavers` against the real Samba AD (test/fixtures/corp-directory.yaml)
// and the Truetask simulator: who is still active in Truetask but disabled in AD or
// gone from it. Read-only: the simulator's audit log proves nothing was written.
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import type { SeedUser } from '../../src/truetask-sim/types.ts';
import { adsync, tempFile, type CliResult } from '../support/cli.ts';
import { isDisabledAccountsSearch, startCuttingProxy } from '../support/ldap-proxy.ts';
import { scenarioYaml, TOKEN, TOKEN_NAME, type ScenarioOptions } from '../support/scenario.ts';

const ad = inject('ad');

interface LeaversJson {
  generatedAt: string;
  disabled: number;
  notInDirectory: number;
  ownedDomains: string[];
  users: Array<{ email: string; name: string; role: string; reason: string }>;
}

// Truetask as a company that has used it for a while. In the fixture's AD:
// Annie Easley and Dennis Ritchie are disabled; svc-backup is an enabled account and
// svc-disabled a disabled one, both in OU=Service Accounts, which the scenario excludes.
const truetaskUsers: SeedUser[] = [
  { email: 'owner@corp.example.com', name: 'The Owner', role: 'owner' }, // an owner: never listed
  { email: 'annie.easley@corp.example.com', name: 'Annie Easley', role: 'user' }, // disabled in AD
  { email: 'Dennis.Ritchie@CORP.example.com', name: 'Dennis Ritchie', role: 'admin' }, // disabled in AD, email in another case
  { email: 'old.hire@corp.example.com', name: 'Old Hire', role: 'user' }, // deleted from AD: AD has no such account
  { email: 'former.admin@corp.example.com', name: 'Former Admin', role: 'admin' }, // deleted from AD
  { email: 'svc-backup@corp.example.com', name: 'Backup service', role: 'user' }, // in an excluded OU
  { email: 'svc-disabled@corp.example.com', name: 'Disabled service', role: 'user' }, // disabled, in an excluded OU
  { email: 'ALAN.TURING@Corp.Example.COM', name: 'Alan Turing', role: 'user' }, // active in AD, email in another case
  { email: 'ada.lovelace@corp.example.com', name: 'Ada Lovelace', role: 'admin' }, // active in AD
  { email: 'contractor@partner.example.org', name: 'Invited Contractor', role: 'user' }, // a local account in another domain
  { email: 'gone.owner@corp.example.com', name: 'Gone Owner', role: 'owner' }, // an owner AD does not have: never listed
];

const expected = [
  { email: 'annie.easley@corp.example.com', name: 'Annie Easley', role: 'user', reason: 'Disabled' },
  { email: 'Dennis.Ritchie@CORP.example.com', name: 'Dennis Ritchie', role: 'admin', reason: 'Disabled' },
  { email: 'former.admin@corp.example.com', name: 'Former Admin', role: 'admin', reason: 'NotInDirectory' },
  { email: 'old.hire@corp.example.com', name: 'Old Hire', role: 'user', reason: 'NotInDirectory' },
];

let sim: TruetaskSimulator;
const outputs: CliResult[] = [];

beforeEach(async () => {
  sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], users: truetaskUsers });
});

afterEach(async () => {
  await sim.close();
});

async function cli(command: string[], over: Partial<ScenarioOptions> = {}, extra: string[] = []): Promise<CliResult> {
  const file = await tempFile(scenarioYaml({ ad, truetaskUrl: sim.url, ...over }));
  const r = await adsync([...command, '-f', file, ...extra]);
  outputs.push(r);
  return r;
}

async function leavers(over: Partial<ScenarioOptions> = {}): Promise<LeaversJson> {
  const r = await cli(['report', 'leavers'], over, ['-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as LeaversJson;
}

describe('adsync report leavers', () => {
  it('lists exactly the disabled and the deleted users, with their reasons, and writes nothing', async () => {
    const r = await leavers();
    expect(r.users).toEqual(expected);
    expect(r).toMatchObject({ disabled: 2, notInDirectory: 2, ownedDomains: ['corp.example.com'] });
    expect(Date.parse(r.generatedAt)).not.toBeNaN();
    expect(sim.audit()).toEqual([]);
    expect(sim.requests('POST') + sim.requests('PATCH')).toBe(0);
  });

  it('reads Truetask exactly as a preview does: one listing, no other request', async () => {
    await leavers();
    const report = { get: sim.requests('GET'), all: sim.requests() };
    const p = await cli(['preview'], {}, ['-o', 'json']);
    expect(p.code).toBe(0);
    expect({ get: sim.requests('GET') - report.get, all: sim.requests() - report.all }).toEqual(report);
    expect(report.get).toBe(1); // 11 users: one page
  });

  it('prints every leaver in a table for people', async () => {
    const r = await cli(['report', 'leavers']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Leavers: +2 disabled in AD, 2 not in the directory/m);
    expect(r.stdout).toMatch(/^Domains: +corp\.example\.com$/m);
    expect(r.stdout).toMatch(/^Disabled +Dennis\.Ritchie@CORP\.example\.com +Dennis Ritchie +admin$/m);
    expect(r.stdout).toMatch(/^NotInDirectory +old\.hire@corp\.example\.com +Old Hire +user$/m);
    expect(r.stdout.split('\n').filter((l) => /^(Disabled|NotInDirectory) /.test(l))).toHaveLength(4);
    expect(r.stdout).not.toMatch(/owner@|contractor@|svc-|alan\.turing/i);
  });

  it('with the excluded OU no longer excluded, its disabled account is a leaver and its enabled one is in the directory', async () => {
    const r = await leavers({ spec: { excludedOUs: [] } });
    expect(r.users.map((u) => [u.email, u.reason])).toEqual([
      ['annie.easley@corp.example.com', 'Disabled'],
      ['Dennis.Ritchie@CORP.example.com', 'Disabled'],
      ['former.admin@corp.example.com', 'NotInDirectory'],
      ['old.hire@corp.example.com', 'NotInDirectory'],
      ['svc-disabled@corp.example.com', 'Disabled'],
    ]);
  });

  it('with mail as the email attribute: owned domains and matches come from mail', async () => {
    // Grace Hopper has no mail: her Truetask account (made from her UPN) has no matched entry with that email.
    // svc-disabled has no mail either: no account, disabled or not, has that address as its mail.
    await sim.close();
    sim = await startTruetaskSimulator({
      tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }],
      users: [...truetaskUsers, { email: 'grace.hopper@corp.example.com', name: 'Grace Hopper', role: 'admin' }],
    });
    const r = await leavers({ spec: { emailAttribute: 'mail' } });
    expect(r.users.map((u) => [u.email, u.reason])).toEqual([
      ['annie.easley@corp.example.com', 'Disabled'],
      ['Dennis.Ritchie@CORP.example.com', 'Disabled'],
      ['former.admin@corp.example.com', 'NotInDirectory'],
      ['grace.hopper@corp.example.com', 'NotInDirectory'],
      ['old.hire@corp.example.com', 'NotInDirectory'],
      ['svc-disabled@corp.example.com', 'NotInDirectory'],
    ]);
    expect(r.ownedDomains).toEqual(['corp.example.com']);
  });

  it('a dropped disabled-accounts search is read again from the start; one that keeps dropping fails the run, and nothing is reported or written', async () => {
    const proxy = await startCuttingProxy(ad, isDisabledAccountsSearch, 1);
    try {
      const once = await cli(['report', 'leavers'], { ldap: { url: proxy.url } }, ['-o', 'json']);
      expect(once.code).toBe(0);
      expect(proxy.cuts()).toBe(1);
      expect(once.stderr).toMatch(/LDAP connection lost; reconnecting and re-reading this step/);
      expect((JSON.parse(once.stdout) as LeaversJson).users).toEqual(expected);

      proxy.setCuts(Number.POSITIVE_INFINITY);
      const always = await cli(['report', 'leavers'], { ldap: { url: proxy.url } }, ['-o', 'json']);
      expect(always.code).toBe(1);
      expect(always.stderr).toMatch(/adsync: ConnectionLost: /);
      expect(JSON.parse(always.stdout)).toEqual({ error: { reason: 'ConnectionLost', message: expect.stringMatching(/dropped/) } });
      expect(proxy.cuts()).toBe(3); // cut, reconnected and re-read once, cut again
      expect(sim.audit()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('preview and sync do not make the extra search (their output is unchanged)', async () => {
    const proxy = await startCuttingProxy(ad, isDisabledAccountsSearch, Number.POSITIVE_INFINITY);
    try {
      const r = await cli(['sync', '--confirm'], { mode: 'Sync', ldap: { url: proxy.url } }, ['-o', 'json']);
      expect(r.code).toBe(0);
      expect(proxy.cuts()).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(Object.keys(out).sort()).toEqual(['result', 'summary', 'users']);
      // the sync wrote only what it planned: the report's users are still there, untouched
      const creates = sim.audit().filter((a) => a.change.op === 'create').map((a) => a.email.toLowerCase());
      expect(creates).not.toContain('annie.easley@corp.example.com');
      expect(sim.audit().some((a) => expected.some((e) => e.email === a.email))).toBe(false);
      expect(sim.users().filter((u) => expected.some((e) => e.email === u.email)).map((u) => u.role)).toEqual(['user', 'admin', 'user', 'admin']);
    } finally {
      await proxy.close();
    }
    // after the sync, the report is the same
    expect((await leavers()).users).toEqual(expected);
  });

  it('never prints the bind password or the API token', () => {
    expect(outputs.length).toBeGreaterThan(5);
    for (const o of outputs) {
      expect(o.stdout + o.stderr).not.toContain(ad.bindPassword);
      expect(o.stdout + o.stderr).not.toContain(TOKEN);
    }
  });
});
