// Changing the test directory as its administrator (users, groups, members, attributes).
import { Attribute, Change, Client } from 'ldapts';
import type { SambaADInfo } from './types.ts';
import { escapeDnValue } from '../../../src/ldap/dn.ts';

// ---------------------------------------------------------------------------
// helpers for tests that change AD (the harness writes; the product never does)

/** A client for ldaps://DC with the DC's CA and name (not bound). */
export function ldapsClient(ad: SambaADInfo): Client {
  return new Client({ url: ad.ldapsUrl, connectTimeout: 5_000, timeout: 30_000, strictDN: false, tlsOptions: { ca: [ad.caPem], servername: ad.dcHostname } });
}

/** Runs fn with a client bound as Administrator over LDAPS. */
export async function withAdmin<T>(ad: SambaADInfo, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = ldapsClient(ad);
  try {
    await client.bind(ad.adminDN, ad.adminPassword);
    return await fn(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

export interface NewUser {
  /** RDN value (unescaped), e.g. "Smith, Jane". */
  cn: string;
  /** Parent DN (full). Default CN=Users,<baseDN>. */
  parentDN?: string;
  sAMAccountName: string;
  userPrincipalName?: string;
  mail?: string;
  givenName?: string;
  sn?: string;
  displayName?: string;
  /** Default 512 (enabled). */
  userAccountControl?: number;
  password?: string;
}

/** Creates a user; returns its DN. */
export async function addUser(ad: SambaADInfo, u: NewUser): Promise<string> {
  const dn = `CN=${escapeDnValue(u.cn)},${u.parentDN ?? `CN=Users,${ad.baseDN}`}`;
  const attrs: Attribute[] = [
    new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
    new Attribute({ type: 'sAMAccountName', values: [u.sAMAccountName] }),
  ];
  for (const a of ['userPrincipalName', 'mail', 'givenName', 'sn', 'displayName'] as const) {
    const v = u[a];
    if (v !== undefined) attrs.push(new Attribute({ type: a, values: [v] }));
  }
  if (u.password !== undefined) attrs.push(new Attribute({ type: 'unicodePwd', values: [Buffer.from(`"${u.password}"`, 'utf16le')] }));
  attrs.push(new Attribute({ type: 'userAccountControl', values: [String(u.userAccountControl ?? 512)] }));
  await withAdmin(ad, (c) => c.add(dn, attrs));
  return dn;
}

export async function addMember(ad: SambaADInfo, groupDN: string, memberDN: string): Promise<void> {
  await withAdmin(ad, (c) => c.modify(groupDN, new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [memberDN] }) })));
}

export async function removeMember(ad: SambaADInfo, groupDN: string, memberDN: string): Promise<void> {
  await withAdmin(ad, (c) => c.modify(groupDN, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [memberDN] }) })));
}

/** Replaces (value/values) or deletes (null) attributes of an entry, e.g. { userAccountControl: '514' }. */
export async function modifyEntry(ad: SambaADInfo, dn: string, changes: Record<string, string | string[] | null>): Promise<void> {
  const list = Object.entries(changes).map(([type, v]) =>
    v === null
      ? new Change({ operation: 'delete', modification: new Attribute({ type, values: [] }) })
      : new Change({ operation: 'replace', modification: new Attribute({ type, values: Array.isArray(v) ? v : [v] }) }),
  );
  await withAdmin(ad, (c) => c.modify(dn, list));
}

/** An account's bad-password count and lockout time (0 or absent: not locked), read as Administrator. */
export async function lockoutState(ad: SambaADInfo, dn: string): Promise<{ badPwdCount: number; lockoutTime: number }> {
  return withAdmin(ad, async (c) => {
    const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['badPwdCount', 'lockoutTime'] });
    const e = searchEntries[0];
    const num = (v: unknown) => Number(Array.isArray(v) ? v[0] : (v ?? 0)) || 0;
    return { badPwdCount: num(e?.badPwdCount), lockoutTime: num(e?.lockoutTime) };
  });
}

export async function deleteEntry(ad: SambaADInfo, dn: string): Promise<void> {
  await withAdmin(ad, (c) => c.del(dn));
}

/** Creates a global security group (cn and sAMAccountName as given, unescaped) under parentDN; returns its DN. */
export async function addGroup(ad: SambaADInfo, g: { cn: string; sAMAccountName: string; parentDN?: string; members?: string[] }): Promise<string> {
  const dn = `CN=${escapeDnValue(g.cn)},${g.parentDN ?? `OU=Groups,${ad.baseDN}`}`;
  const attrs: Attribute[] = [
    new Attribute({ type: 'objectClass', values: ['top', 'group'] }),
    new Attribute({ type: 'sAMAccountName', values: [g.sAMAccountName] }),
    new Attribute({ type: 'groupType', values: ['-2147483646'] }),
  ];
  if (g.members && g.members.length > 0) attrs.push(new Attribute({ type: 'member', values: g.members }));
  await withAdmin(ad, (c) => c.add(dn, attrs));
  return dn;
}
