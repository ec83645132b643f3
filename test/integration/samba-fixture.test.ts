// The test Samba AD (test/support/global-ad.ts) behaves like Active Directory in the
// ways the product depends on, and holds exactly the fixture company.
import { Client, InvalidCredentialsError, StrongAuthRequiredError, type Entry } from 'ldapts';
import { describe, expect, inject, it } from 'vitest';
import { addMember, addUser, deleteEntry, loadFixture, modifyEntry, type SambaADInfo } from '../support/samba.ts';

const ad: SambaADInfo = inject('ad');
const fx = loadFixture(ad.fixturePath, { extraGeneratedUsers: ad.generatedUsers - loadFixture(ad.fixturePath).generated.count });
const DEFAULT_FILTER = '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))';

function ldaps(tls: { servername?: string; ca?: string[] } = { ca: [ad.caPem], servername: ad.dcHostname }): Client {
  return new Client({ url: ad.ldapsUrl, connectTimeout: 5_000, timeout: 20_000, tlsOptions: tls });
}

async function bound<T>(fn: (c: Client) => Promise<T>, dn = ad.bindUPN, password = ad.bindPassword): Promise<T> {
  const c = ldaps();
  try {
    await c.bind(dn, password);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

async function bindError(url: string, dn: string, password: string): Promise<unknown> {
  const c = url.startsWith('ldaps') ? ldaps() : new Client({ url, connectTimeout: 5_000, timeout: 20_000 });
  try {
    await c.bind(dn, password);
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

const lower = (dns: Iterable<string>) => [...dns].map((d) => d.toLowerCase()).sort();
const str = (e: Entry, a: string) => {
  const v = e[a];
  return Array.isArray(v) ? String(v[0]) : v === undefined ? undefined : String(v);
};

describe('binding', () => {
  it('accepts an LDAPS simple bind as the service account by UPN, DN and DOMAIN\\user', async () => {
    for (const who of [ad.bindUPN, ad.bindDN, `${ad.netbiosDomain}\\svc-truetask`]) {
      const found = await bound(async (c) => (await c.search(ad.baseDN, { filter: '(sAMAccountName=svc-truetask)', attributes: ['userPrincipalName'] })).searchEntries, who);
      expect(found.map((e) => e.dn)).toEqual([ad.bindDN]);
    }
  });

  it('refuses a simple bind on plain ldap:// with strongAuthRequired (8)', async () => {
    const err = await bindError(ad.ldapUrl, ad.bindUPN, ad.bindPassword);
    expect(err).toBeInstanceOf(StrongAuthRequiredError);
    expect((err as StrongAuthRequiredError).code).toBe(8);
  });

  it.each([
    ['wrong password', () => ad.bindUPN, () => 'Not-The-Passw0rd!', 'data 52e'],
    ['disabled account', () => ad.badAccounts.disabled.upn, () => ad.badAccounts.disabled.password, 'data 533'],
    ['must change password', () => ad.badAccounts.mustChangePassword.upn, () => ad.badAccounts.mustChangePassword.password, 'data 773'],
    ['locked account', () => ad.badAccounts.locked.upn, () => ad.badAccounts.locked.password, 'data 775'],
    ['unknown user', () => `nobody@${ad.domain}`, () => 'Whatever-Passw0rd!', 'data 52e'],
  ])('rejects %s with invalidCredentials (49) and AD sub-code', async (_name, who, password, sub) => {
    const err = await bindError(ad.ldapsUrl, who(), password());
    expect(err).toBeInstanceOf(InvalidCredentialsError);
    expect((err as InvalidCredentialsError).code).toBe(49);
    expect((err as Error).message).toContain(sub);
  });

  it('serves a certificate for dcHostname issued by caPem, and only that', async () => {
    // Without servername Node checks the IP against the certificate: no match.
    const byIp = ldaps({ ca: [ad.caPem] });
    await expect(byIp.bind(ad.bindUPN, ad.bindPassword)).rejects.toThrow(/IP: .* is not in the cert's list|altnames|ERR_TLS_CERT_ALTNAME_INVALID/i);
    await byIp.unbind().catch(() => undefined);
    const untrusted = ldaps({ servername: ad.dcHostname });
    await expect(untrusted.bind(ad.bindUPN, ad.bindPassword)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    await untrusted.unbind().catch(() => undefined);
  });
});

describe('the fixture directory', () => {
  it('returns every user in several pages at pageSize 100', async () => {
    const pages = await bound(async (c) => {
      const out: Entry[][] = [];
      for await (const page of c.searchPaginated(ad.baseDN, {
        scope: 'sub',
        filter: '(&(objectCategory=person)(objectClass=user))',
        attributes: ['sAMAccountName'],
        paged: { pageSize: 100 },
      })) out.push(page.searchEntries);
      return out;
    });
    const dns = pages.flat().map((e) => e.dn);
    const expected = [...fx.users.map((u) => u.dn), ...fx.builtinUsers.map((u) => u.dn)];
    expect(expected.length).toBeGreaterThan(100);
    expect(pages.length).toBe(Math.ceil(expected.length / 100));
    expect(pages.every((p) => p.length <= 100)).toBe(true);
    expect(lower(dns)).toEqual(lower(expected));
  });

  it('matches the product default filter to exactly the enabled users with a UPN', async () => {
    const entries = await bound(async (c) => {
      const all: Entry[] = [];
      for await (const page of c.searchPaginated(ad.baseDN, { filter: DEFAULT_FILTER, attributes: ['userPrincipalName'], paged: { pageSize: 100 } })) all.push(...page.searchEntries);
      return all;
    });
    const expected = fx.users.filter((u) => u.userPrincipalName && (u.userAccountControl & 2) === 0).map((u) => u.dn);
    expect(lower(entries.map((e) => e.dn))).toEqual(lower(expected));
  });

  it('resolves nested admin-group members with LDAP_MATCHING_RULE_IN_CHAIN', async () => {
    const itAdmins = `CN=IT-Admins,OU=Groups,${ad.baseDN}`;
    const [direct, nested] = await bound(async (c) => [
      (await c.search(ad.baseDN, { filter: `(&(objectClass=user)(memberOf=${itAdmins}))`, attributes: ['cn'] })).searchEntries,
      (await c.search(ad.baseDN, { filter: `(&(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=${itAdmins}))`, attributes: ['cn'] })).searchEntries,
    ]);
    const group = (cn: string) => fx.groups.find((g) => g.cn === cn);
    const users = new Set(fx.users.map((u) => u.dn.toLowerCase()));
    const it = group('IT-Admins');
    const platform = group('Platform-Admins');
    if (!it || !platform) throw new Error('fixture lacks IT-Admins/Platform-Admins');
    const directUsers = it.members.filter((m) => users.has(m.toLowerCase()));
    expect(lower(direct!.map((e) => e.dn))).toEqual(lower(directUsers));
    expect(lower(nested!.map((e) => e.dn))).toEqual(lower([...directUsers, ...platform.members.filter((m) => users.has(m.toLowerCase()))]));
    expect(nested!.length).toBeGreaterThan(direct!.length);
  });

  it('finds the Admin group by name and the empty group without members', async () => {
    const groups = await bound(async (c) => (await c.search(ad.baseDN, { filter: '(&(objectClass=group)(|(sAMAccountName=Admin)(sAMAccountName=Empty-Group)))', attributes: ['member', 'sAMAccountName'] })).searchEntries);
    const admin = groups.find((g) => str(g, 'sAMAccountName') === 'Admin');
    const empty = groups.find((g) => str(g, 'sAMAccountName') === 'Empty-Group');
    expect(admin?.dn).toBe(`CN=Admin,CN=Users,${ad.baseDN}`);
    expect(lower([admin?.member ?? []].flat().map(String))).toEqual(lower(fx.groups.find((g) => g.cn === 'Admin')?.members ?? ['?']));
    expect(empty).toBeDefined();
    expect(empty?.member ?? []).toEqual([]);
  });

  it('keeps escaped DNs, non-ASCII names, case-variant duplicate mails and invalid mails as given', async () => {
    const [smith, li, dup, invalid] = await bound(async (c) => {
      const one = async (filter: string) => (await c.search(ad.baseDN, { filter, attributes: ['displayName', 'mail', 'cn', 'sAMAccountName'] })).searchEntries;
      return [await one('(sAMAccountName=john.smith)'), await one('(sAMAccountName=li.lei)'), await one('(mail=barbara.liskov@corp.example.com)'), await one('(sAMAccountName=ivan.invalid)')];
    });
    expect(smith?.[0]?.dn).toBe(`CN=Smith\\, John,OU=Sales,OU=Staff,${ad.baseDN}`);
    expect(str(smith![0]!, 'cn')).toBe('Smith, John');
    expect(str(li![0]!, 'displayName')).toBe('李雷');
    expect(li?.[0]?.dn).toBe(`CN=李雷,OU=Engineering,OU=Staff,${ad.baseDN}`);
    expect(dup?.map((e) => str(e, 'sAMAccountName')).sort()).toEqual(['barbara.liskov', 'bliskov-adm']);
    expect(new Set(dup?.map((e) => str(e, 'mail'))).size).toBe(2);
    expect(str(invalid![0]!, 'mail')).toBe('ivan.invalid(at)corp');
  });
});

describe('harness write helpers (Administrator over LDAPS)', () => {
  it('adds a user with a password, adds it to a group, disables and deletes it', async () => {
    const sam = `tmp.${Date.now().toString(36)}`;
    const dn = await addUser(ad, {
      cn: `Temp, Zoë ${sam}`,
      parentDN: `OU=Sales,OU=Staff,${ad.baseDN}`,
      sAMAccountName: sam,
      userPrincipalName: `${sam}@${ad.domain}`,
      mail: `${sam}@${ad.domain}`,
      displayName: 'Temp Zoë',
      password: 'Temp-Passw0rd-1!',
    });
    try {
      expect(dn).toBe(`CN=Temp\\, Zoë ${sam},OU=Sales,OU=Staff,${ad.baseDN}`);
      await bound(async () => undefined, `${sam}@${ad.domain}`, 'Temp-Passw0rd-1!');
      const itAdmins = `CN=IT-Admins,OU=Groups,${ad.baseDN}`;
      await addMember(ad, `CN=Platform-Admins,OU=Groups,${ad.baseDN}`, dn);
      const nested = await bound(async (c) => (await c.search(ad.baseDN, { filter: `(&(sAMAccountName=${sam})(memberOf:1.2.840.113556.1.4.1941:=${itAdmins}))` })).searchEntries);
      expect(nested.map((e) => e.dn)).toEqual([dn]);
      await modifyEntry(ad, dn, { userAccountControl: '514' });
      const err = await bindError(ad.ldapsUrl, `${sam}@${ad.domain}`, 'Temp-Passw0rd-1!');
      expect((err as Error).message).toContain('data 533');
    } finally {
      await deleteEntry(ad, dn);
    }
    const gone = await bound(async (c) => (await c.search(ad.baseDN, { filter: `(sAMAccountName=${sam})` })).searchEntries);
    expect(gone).toEqual([]);
  });
});
