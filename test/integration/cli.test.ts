// The adsync CLI end to end against the real Samba AD (test/fixtures/corp-directory.yaml)
// and the Truetask simulator; writes are checked in the simulator's audit log.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import type { SeedUser } from '../../src/truetask-sim/types.ts';
import { adsync, tempFile, type CliResult } from '../support/cli.ts';
import { scenarioYaml, TOKEN, TOKEN_NAME, type ScenarioOptions } from '../support/scenario.ts';

const ad = inject('ad');
const D = ad.baseDN;

interface Row {
  email: string | null;
  name: string;
  dn: string;
  role: string | null;
  action: string;
  reason: string;
}
interface PreviewJson {
  summary: { directoryUsers: number; excluded: number; skipped: number; toCreate: number; toPromote: number; unchanged: number };
  users: Row[];
}

let sim: TruetaskSimulator;
const outputs: CliResult[] = [];

async function startSim(users: SeedUser[] = []): Promise<void> {
  sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], users });
}

async function cli(command: string[], over: Partial<ScenarioOptions> = {}, extra: string[] = []): Promise<CliResult> {
  const file = await tempFile(scenarioYaml({ ad, truetaskUrl: sim.url, ...over }));
  const r = await adsync([...command, '-f', file, ...extra]);
  outputs.push(r);
  return r;
}

async function preview(over: Partial<ScenarioOptions> = {}): Promise<PreviewJson> {
  const r = await cli(['preview'], over, ['-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as PreviewJson;
}

const row = (p: PreviewJson, cn: string) => {
  const found = p.users.find((u) => u.dn.startsWith(`CN=${cn},`));
  if (!found) throw new Error(`no row for CN=${cn}`);
  return found;
};

beforeEach(async () => {
  await startSim([{ email: 'owner@corp.example.com', name: 'The Owner', role: 'owner' }]);
});

afterEach(async () => {
  await sim.close();
});

describe('adsync preview', () => {
  it('prints the full plan, a row for every entry the filter matched, and writes nothing', async () => {
    const p = await preview();
    // 271 enabled entries with a UPN: 2 in CN=Users, 9 in Engineering, 4 in Sales, 2 contractors, 4 service accounts, 250 bulk.
    expect(p.summary).toEqual({ directoryUsers: 267, excluded: 4, skipped: 0, toCreate: 267, toPromote: 0, unchanged: 0 });
    expect(p.users).toHaveLength(271);
    expect(sim.audit()).toEqual([]);

    // names: displayName, else givenName sn, else cn; escaped commas and non-ASCII intact
    expect(row(p, 'Smith\\, John')).toMatchObject({ email: 'john.smith@corp.example.com', name: 'Smith, John', action: 'create', role: 'user' });
    expect(row(p, 'Margaret Hamilton').name).toBe('Margaret Hamilton');
    expect(row(p, 'Mary Jackson').name).toBe('Mary Jackson');
    expect(row(p, 'José Müller').name).toBe('José Müller');
    expect(row(p, '李雷').name).toBe('李雷');

    // promotion: direct (Ken), nested through Platform-Admins (Linus), and a group given by name (Ada, in "Admin")
    const admins = p.users.filter((u) => u.role === 'admin').map((u) => u.email).sort();
    expect(admins).toEqual(
      ['ada.lovelace', 'bliskov-adm', 'dana.temp', 'grace.hopper', 'ken.thompson', 'linus.torvalds', 'margaret.hamilton', 'zoe.orsted'].map((u) => `${u}@corp.example.com`),
    );

    // the excluded OU, compared as a DN; disabled accounts and non-users are not there at all
    expect(p.users.filter((u) => u.action === 'exclude').map((u) => u.dn.split(',')[0]).sort()).toEqual(['CN=svc-backup', 'CN=svc-locked', 'CN=svc-mustchange', 'CN=svc-truetask']);
    expect(p.users.some((u) => /Dennis Ritchie|Annie Easley|External Partner|WS0001/.test(u.dn))).toBe(false);
  });

  it('with mail as the email: skips entries without a usable one, and merges entries sharing an address', async () => {
    const p = await preview({ spec: { emailAttribute: 'mail', excludedOUs: [`ou=service accounts, ${D.toLowerCase()}`, `OU=Contractors,${D}`] } });
    expect(p.summary).toMatchObject({ excluded: 6, skipped: 2 });
    expect(row(p, 'Grace Hopper')).toMatchObject({ action: 'skip', reason: 'no mail' });
    expect(row(p, 'Ivan Invalid').action).toBe('skip');
    expect(row(p, 'Ivan Invalid').reason).toMatch(/invalid mail "ivan.invalid\(at\)corp"/);
    const liskov = p.users.filter((u) => u.dn.includes('Barbara Liskov'));
    expect(liskov).toHaveLength(2);
    expect(liskov.every((u) => u.action === 'create' && u.role === 'admin')).toBe(true);
    expect(p.summary.toCreate).toBe(p.summary.directoryUsers - 1);
  });

  it('counts only direct members when nested is false', async () => {
    const p = await preview({ spec: { adminPromotion: { enabled: true, groups: [`CN=IT-Admins,OU=Groups,${D}`], nested: false } } });
    expect(p.users.filter((u) => u.role === 'admin').map((u) => u.email).sort()).toEqual(['dana.temp@corp.example.com', 'ken.thompson@corp.example.com']);
  });

  it('prints a readable table for people', async () => {
    const r = await cli(['preview']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Directory: 267 users in scope, 4 in excluded OUs, 0 skipped$/m);
    expect(r.stdout).toMatch(/^Plan: +267 to create, 0 to promote, 0 unchanged$/m);
    expect(r.stdout).toMatch(/^create +linus\.torvalds@corp\.example\.com +Linus Torvalds +admin$/m);
    expect(r.stdout).toMatch(/Admin group Admin: CN=Admin,CN=Users,DC=corp,DC=example,DC=com \(4 members in scope\)/);
  });
});

describe('adsync sync', () => {
  it('without --confirm only previews', async () => {
    const r = await cli(['sync'], {}, ['-o', 'json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/preview only; nothing was written/);
    expect(sim.audit()).toEqual([]);
  });

  it('makes exactly the planned writes, never downgrades, and a second sync writes nothing', async () => {
    await sim.close();
    await startSim([
      { email: 'owner@corp.example.com', name: 'The Owner', role: 'owner' },
      { email: 'ADA.Lovelace@corp.example.com', name: 'Ada', role: 'user' }, // in "Admin": promoted
      { email: 'ken.thompson@corp.example.com', name: 'Ken', role: 'owner' }, // in IT-Admins, but an owner: untouched
      { email: 'alan.turing@corp.example.com', name: 'Alan', role: 'admin' }, // in no admin group: never downgraded
    ]);
    const plan = await preview();
    expect(plan.summary).toMatchObject({ toCreate: 264, toPromote: 1, unchanged: 2 });

    const r = await cli(['sync', '--confirm'], {}, ['-o', 'json']);
    expect(r.code).toBe(0);
    const result = (JSON.parse(r.stdout) as { result: Record<string, unknown> }).result;
    expect(result).toMatchObject({ result: 'Succeeded', created: 264, promoted: 1, failed: 0 });

    const audit = sim.audit();
    const creates = audit.filter((a) => a.change.op === 'create');
    const updates = audit.filter((a) => a.change.op === 'update');
    const planned = plan.users.filter((u) => u.action === 'create').map((u) => u.email!.toLowerCase());
    expect(creates.map((a) => a.email.toLowerCase()).sort()).toEqual([...new Set(planned)].sort());
    expect(updates).toEqual([expect.objectContaining({ email: 'ADA.Lovelace@corp.example.com', change: { op: 'update', role: { from: 'user', to: 'admin' } } })]);
    const users = sim.users();
    expect(users.find((u) => u.email === 'ken.thompson@corp.example.com')?.role).toBe('owner');
    expect(users.find((u) => u.email === 'alan.turing@corp.example.com')?.role).toBe('admin');
    expect(users.find((u) => u.email === 'linus.torvalds@corp.example.com')).toMatchObject({ role: 'admin', verified: true, name: 'Linus Torvalds' });
    // one audit line per created user on stderr, none with a password
    expect(r.stderr.split('\n').filter((l) => l.includes('"audit":true') && l.includes('"action":"create"'))).toHaveLength(264);

    const again = await cli(['sync', '--confirm'], {}, ['-o', 'json']);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { result: Record<string, unknown> }).result).toMatchObject({ created: 0, promoted: 0, unchanged: 267 });
    expect(sim.audit()).toHaveLength(audit.length);
  });
});

describe('connections and AD errors', () => {
  const failure = async (over: Partial<ScenarioOptions>, command = 'preview', extra: string[] = []) => {
    const r = await cli([command], over, extra);
    expect(r.code).toBe(1);
    expect(sim.audit()).toEqual([]);
    return r.stderr;
  };

  it('test-connection reports both sides', async () => {
    const r = await cli(['test-connection'], {}, ['-o', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ directory: { ok: true, url: ad.ldapsUrl }, failover: [], truetask: { ok: true, url: sim.url, totalUsers: 1 } });
    const bad = await cli(['test-connection'], { token: 'wrong-token-value' }, ['-o', 'json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).truetask).toMatchObject({ ok: false, reason: 'Unauthorized' });
    expect(bad.stdout + bad.stderr).not.toContain('wrong-token-value');
  });

  it('test-connection checks each DC of spec.ldap.failover: one row per DC, exit 1 when one fails', async () => {
    const down = 'ldaps://127.0.0.1:1';
    const r = await cli(['test-connection'], { ldap: { failover: [{ url: down }, { url: ad.ldapsUrl }] } });
    expect(r.code).toBe(1);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('Active Directory'));
    expect(rows).toEqual([
      expect.stringMatching(new RegExp(`^Active Directory \\(url\\) +OK +bound to ${ad.ldapsUrl}; base DN found`)),
      expect.stringMatching(new RegExp(`^Active Directory \\(failover 1\\) +FAILED \\(ConnectionRefused\\) +${down}: Connection to ${down} refused`)),
      expect.stringMatching(new RegExp(`^Active Directory \\(failover 2\\) +OK +bound to ${ad.ldapsUrl}; base DN found`)),
    ]);
  });

  it('a DC that refuses a simple bind on plain ldap:// (opted into): StrongAuthRequired and what to do', async () => {
    const err = await failure({ ldap: { url: ad.ldapUrl, tls: undefined, insecurePlaintext: true } });
    expect(err).toMatch(/StrongAuthRequired: .*use ldaps:\/\/HOST:636 or set spec.ldap.startTLS: true/);
  });

  it('binds over StartTLS on ldap:// with the CA and server name', async () => {
    const p = await preview({ ldap: { url: ad.ldapUrl, startTLS: true } });
    expect(p.summary.directoryUsers).toBe(267);
  });

  it('skips verification only when told to, and says so', async () => {
    const r = await cli(['preview'], { ldap: { tls: { insecureSkipVerify: true } } }, ['-o', 'json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/TLS verification is disabled for ldap \(insecureSkipVerify\)/);
    expect((JSON.parse(r.stdout) as PreviewJson).summary.directoryUsers).toBe(267);
  });

  it('verifies the DC certificate: refused with another CA or without serverName for an IP', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'otherca-'));
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=Other CA']);
    const otherCa = await readFile(join(dir, 'ca.pem'), 'utf8');
    expect(await failure({ ad: { ...ad, caPem: otherCa } })).toMatch(/TLSError: TLS with ldaps:\/\/.* failed/);
    expect(await failure({ ldap: { tls: { caSecretRef: { name: 'ad-ca' } } } })).toMatch(/TLSError: .*(IP|altnames|does not match)/i);
  });

  it.each([
    ['a wrong password', { bindPassword: 'Not-The-Passw0rd!' }, /InvalidCredentials: .*AD code 52e.*try both bindDN formats/],
    ['a disabled service account', { ldap: { bindDN: ad.badAccounts.disabled.upn }, bindPassword: ad.badAccounts.disabled.password }, /AccountDisabled: .*AD code 533/],
    ['a password that must change', { ldap: { bindDN: ad.badAccounts.mustChangePassword.upn }, bindPassword: ad.badAccounts.mustChangePassword.password }, /PasswordExpired: .*AD code 773/],
    ['a locked account', { ldap: { bindDN: ad.badAccounts.locked.upn }, bindPassword: ad.badAccounts.locked.password }, /AccountLocked: .*AD code 775/],
    ['an unreachable server', { ldap: { url: 'ldaps://127.0.0.1:1' } }, /ConnectionRefused: Connection to ldaps:\/\/127.0.0.1:1 refused.*Get-Service NTDS/],
    ['a base DN that does not exist', { ldap: { baseDN: `OU=Nowhere,${D}` } }, /NoSuchBaseDN: .*OU=Nowhere/],
  ])('reports %s with its reason and hint', async (_what, over, message) => {
    const err = await failure(over as Partial<ScenarioOptions>);
    expect(err).toMatch(message);
  });

  /** A loopback proxy in front of the DC that cuts the first `cut` connections after 40 KB from the server. */
  async function cuttingProxy(cut: number): Promise<{ url: string; close: () => void; connections: () => number }> {
    let n = 0;
    const proxy: Server = createServer((client: Socket) => {
      const cutThis = n++ < cut;
      const upstream = connect(636, ad.ip);
      let sent = 0;
      upstream.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        if (cutThis && sent > 40_000) {
          client.destroy();
          upstream.destroy();
        } else client.write(chunk);
      });
      client.on('data', (c: Buffer) => upstream.write(c));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
    return { url: `ldaps://127.0.0.1:${(proxy.address() as { port: number }).port}`, close: () => proxy.close(), connections: () => n };
  }

  it('reconnects and rebinds once when the connection drops mid-read, and re-reads from the start', async () => {
    const proxy = await cuttingProxy(1);
    try {
      const r = await cli(['preview'], { ldap: { url: proxy.url } }, ['-o', 'json']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/LDAP connection lost; reconnecting and re-reading this step/);
      const p = JSON.parse(r.stdout) as PreviewJson;
      expect(p.users).toHaveLength(271);
      expect(p.summary).toEqual({ directoryUsers: 267, excluded: 4, skipped: 0, toCreate: 267, toPromote: 0, unchanged: 0 });
      expect(proxy.connections()).toBe(2);
    } finally {
      proxy.close();
    }
  });

  it('a connection that keeps dropping mid-read fails a confirmed sync and writes nothing', async () => {
    const proxy = await cuttingProxy(Number.MAX_SAFE_INTEGER);
    try {
      // A real sync (--confirm, mode Sync): what it read before the cut would be enough to write.
      const err = await failure({ mode: 'Sync', ldap: { url: proxy.url } }, 'sync', ['--confirm']);
      expect(err).toMatch(/ConnectionLost|Timeout/);
      expect(proxy.connections()).toBeGreaterThanOrEqual(2); // it was cut, reconnected, and cut again
      expect(sim.createAttempts()).toEqual([]);
      expect(sim.requests('POST') + sim.requests('PATCH')).toBe(0);
    } finally {
      proxy.close();
    }
    // The same confirmed sync through a proxy that does not cut writes: the check above could fail.
    const through = await cuttingProxy(0);
    try {
      const r = await cli(['sync'], { mode: 'Sync', ldap: { url: through.url } }, ['--confirm']);
      expect(r.code).toBe(0);
      expect(sim.audit().filter((a) => a.change.op === 'create')).toHaveLength(267);
    } finally {
      through.close();
    }
  });
});

describe('discover', () => {
  it('lists OUs and containers with user counts, marking excluded ones', async () => {
    const r = await cli(['discover', 'ous'], {}, ['-o', 'json']);
    expect(r.code).toBe(0);
    const ous = (JSON.parse(r.stdout) as { organizationalUnits: Array<{ dn: string; users: number; excluded: boolean }> }).organizationalUnits;
    const by = (dn: string) => ous.find((o) => o.dn.toLowerCase() === `${dn},${D}`.toLowerCase());
    expect(by('OU=Engineering,OU=Staff')).toMatchObject({ users: 9, excluded: false });
    expect(by('OU=Staff')).toMatchObject({ users: 263 });
    expect(by('CN=Users')).toMatchObject({ users: 2 });
    expect(by('OU=Service Accounts')).toMatchObject({ users: 4, excluded: true });
  });

  it('tries the failover DCs when the first one does not answer (ous and groups)', async () => {
    const ldap = { url: 'ldaps://127.0.0.1:1', failover: [{ url: ad.ldapsUrl }] };
    const r = await cli(['discover', 'ous'], { ldap }, ['-o', 'json']);
    expect(r.code).toBe(0);
    const ous = (JSON.parse(r.stdout) as { organizationalUnits: Array<{ dn: string; users: number }> }).organizationalUnits;
    expect(ous.find((o) => o.dn.toLowerCase() === `OU=Staff,${D}`.toLowerCase())).toMatchObject({ users: 263 });
    expect(r.stderr).toContain('ldaps://127.0.0.1:1');
    const g = await cli(['discover', 'groups'], { ldap }, ['-o', 'json']);
    expect(g.code).toBe(0);
    expect((JSON.parse(g.stdout) as { groups: Array<{ name: string }> }).groups.map((x) => x.name)).toContain('IT-Admins');
  });

  it('lists groups, marking the admin groups of the spec', async () => {
    const r = await cli(['discover', 'groups'], {}, ['-o', 'json']);
    const groups = (JSON.parse(r.stdout) as { groups: Array<{ name: string; adminGroup: boolean; security: boolean }> }).groups;
    expect(groups.find((g) => g.name === 'IT-Admins')).toMatchObject({ adminGroup: true, security: true });
    expect(groups.find((g) => g.name === 'Admin')).toMatchObject({ adminGroup: true });
    expect(groups.find((g) => g.name === 'Sales-Team')).toMatchObject({ adminGroup: false });
  });
});

describe('input and secrets', () => {
  it('exits 2 with what to fix on an invalid spec, and reads no server', async () => {
    const r = await cli(['preview'], { spec: { interval: 'daily', emailAttribute: 'email' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/spec.interval: must be "manual" or a duration/);
    expect(r.stderr).toMatch(/spec.emailAttribute/);
  });

  it('exits 2 when a Secret is neither in the file nor in a kube context', async () => {
    const file = await tempFile(scenarioYaml({ ad, truetaskUrl: sim.url }, false));
    const r = await adsync(['preview', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/SecretNotFound: Secret default\/ad-bind \(LDAP bind password\) was not found/);
  });

  it('never prints the bind password or the API token', () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const o of outputs) {
      expect(o.stdout + o.stderr).not.toContain(ad.bindPassword);
      expect(o.stdout + o.stderr).not.toContain(TOKEN);
    }
  });
});
