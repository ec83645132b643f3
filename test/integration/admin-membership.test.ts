// Admin membership by walking groups (src/ldap/membership.ts) gives exactly what AD's
// LDAP_MATCHING_RULE_IN_CHAIN gives, on the real Samba AD: nested groups, a cycle, a
// user in several admin groups, a group with more than 1,500 members (All-Hands, AD's
// ranged-retrieval threshold for `member`), direct membership when nested is false.
// The in-chain query stays here as the reference.
import { Attribute, Client, type Entry } from 'ldapts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isAdSyncError } from '../../src/errors.ts';
import { dnKey, parseDn } from '../../src/ldap/dn.ts';
import { parseFilter } from '../../src/ldap/filter.ts';
import { adminGroupMembers, membersOfGroupSets, nestedGroups, type MembershipLimits } from '../../src/ldap/membership.ts';
import { readDirectory, readUsers } from '../../src/ldap/reader.ts';
import { DirectorySession } from '../../src/ldap/session.ts';
import { silentLogger } from '../../src/log.ts';
import { addMember, deleteEntry, ldapsClient, loadFixture, withAdmin } from '../support/samba.ts';

const ad = inject('ad');
const D = ad.baseDN;
const IN_CHAIN = '1.2.840.113556.1.4.1941';
const DEFAULT_FILTER = '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))';
const ALL_USERS = '(&(objectCategory=person)(objectClass=user))';
const fx = loadFixture(ad.fixturePath);

const tag = Date.now().toString(36);
const dn = (cn: string) => `CN=${cn}-${tag},OU=Groups,${D}`;
const ROOT = dn('Eq-Root');
const CYCLE_A = dn('Eq-Cycle-A');
const CYCLE_B = dn('Eq-Cycle-B');
const IT_ADMINS = `CN=IT-Admins,OU=Groups,${D}`;
const PLATFORM = `CN=Platform-Admins,OU=Groups,${D}`;
const ADMIN = `CN=Admin,CN=Users,${D}`;
const ALL_HANDS = `CN=All-Hands,OU=Groups,${D}`;
const EMPTY = `CN=Empty-Group,OU=Groups,${D}`;
const user = (rel: string) => `${rel},${D}`;

let session: DirectorySession;

async function addGroup(groupDN: string): Promise<void> {
  const cn = parseDn(groupDN).rdns[0]?.[0]?.value ?? '';
  await withAdmin(ad, (c) =>
    c.add(groupDN, [
      new Attribute({ type: 'objectClass', values: ['top', 'group'] }),
      new Attribute({ type: 'sAMAccountName', values: [cn] }),
    ]),
  );
}

beforeAll(async () => {
  // Eq-Root > Platform-Admins > Bulk-Admins, and Eq-Root > Eq-Cycle-A > Eq-Cycle-B > Eq-Cycle-A (a cycle);
  // Eq-Cycle-B also holds All-Hands (3,202 members) and Ada, who is in Admin and All-Hands too.
  for (const g of [ROOT, CYCLE_A, CYCLE_B]) await addGroup(g);
  await addMember(ad, ROOT, PLATFORM);
  await addMember(ad, ROOT, CYCLE_A);
  await addMember(ad, CYCLE_A, CYCLE_B);
  await addMember(ad, CYCLE_A, user('CN=Ken Thompson,OU=Engineering,OU=Staff'));
  await addMember(ad, CYCLE_B, CYCLE_A);
  await addMember(ad, CYCLE_B, ALL_HANDS);
  await addMember(ad, CYCLE_B, user('CN=Ada Lovelace,CN=Users'));
  await addMember(ad, CYCLE_B, user('CN=Dennis Ritchie,OU=Engineering,OU=Staff'));
  session = await DirectorySession.open(
    { url: ad.ldapsUrl, bindDN: ad.bindUPN, bindPassword: ad.bindPassword, startTLS: false, tls: { ca: ad.caPem, serverName: ad.dcHostname, insecureSkipVerify: false }, timeoutSeconds: 60 },
    silentLogger(),
  );
}, 120_000);

afterAll(async () => {
  await session?.close();
  for (const g of [ROOT, CYCLE_A, CYCLE_B]) await deleteEntry(ad, g).catch(() => undefined);
});

/** The reference: what the DC itself says, one query with the chain rule (or plain memberOf). */
async function reference(filter: string, groupDN: string, nested: boolean): Promise<string[]> {
  const client: Client = ldapsClient(ad);
  try {
    await client.bind(ad.bindUPN, ad.bindPassword);
    const rule = nested ? `memberOf:${IN_CHAIN}:` : 'memberOf';
    const escaped = groupDN.replace(/\\/g, '\\5c').replace(/\*/g, '\\2a').replace(/\(/g, '\\28').replace(/\)/g, '\\29');
    const out: Entry[] = [];
    for await (const page of client.searchPaginated(D, { filter: `(&${filter}(${rule}=${escaped}))`, attributes: ['1.1'], paged: { pageSize: 500 }, timeLimit: 120 })) out.push(...page.searchEntries);
    return keys(out.map((e) => e.dn));
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

const keys = (dns: Iterable<string>) => [...dns].map((d) => parseDn(d).key).sort();
const cfg = (userFilter: string) => ({ baseDN: D, pageSize: 500, userFilter: parseFilter(userFilter), emailAttribute: 'userPrincipalName' as const, adminPromotion: { enabled: true, groups: [], nested: true } });
const scopes = new Map<string, Set<string>>();
/** DN keys of what the users search reads with this filter (the members are taken from it). */
async function inScope(filter: string): Promise<Set<string>> {
  let s = scopes.get(filter);
  if (!s) {
    s = new Set((await readUsers(session, cfg(filter))).map((e) => dnKey(e.dn)));
    scopes.set(filter, s);
  }
  return s;
}
const members = async (filter: string, g: string, nested: boolean, limits?: MembershipLimits) => adminGroupMembers(session, cfg(filter), g, nested, await inScope(filter), limits);

describe('admin membership by walking groups', () => {
  const groups = [ROOT, CYCLE_B, IT_ADMINS, ADMIN, ALL_HANDS, EMPTY];

  // The chain rule is slow per candidate user (the point of the walk): the reference
  // runs over every account for the groups that hold the members-only ones.
  it.each([
    ['the default user filter', DEFAULT_FILTER, groups],
    ['every user account, disabled and members-only ones too', ALL_USERS, [ROOT]],
  ])('equals LDAP_MATCHING_RULE_IN_CHAIN for nested groups, a cycle and a 3,202-member group (%s)', async (_name, filter, list) => {
    for (const g of list) {
      const walked = await members(filter, g, true);
      expect({ group: g, members: [...walked.members].sort() }).toEqual({ group: g, members: await reference(filter, g, true) });
    }
  }, 300_000);

  it('sees through the cycle and every level, each group once, and the big group whole', async () => {
    const closure = await nestedGroups(session, ROOT, cfg(ALL_USERS));
    expect(keys(closure)).toEqual(keys([ROOT, PLATFORM, `CN=Bulk-Admins,OU=Groups,${D}`, CYCLE_A, CYCLE_B, ALL_HANDS]));
    expect(closure[0]).toBe(ROOT);

    const root = (await members(ALL_USERS, ROOT, true)).members;
    const hands = fx.groups.find((g) => g.cn === 'All-Hands')?.members ?? [];
    expect(hands.length).toBeGreaterThan(1500);
    for (const m of hands) expect(root.has(parseDn(m).key)).toBe(true);
    // Ken (in Eq-Cycle-A), Linus (Platform-Admins), Ada (Eq-Cycle-B, also in Admin and All-Hands), the disabled Dennis
    for (const u of ['CN=Ken Thompson,OU=Engineering,OU=Staff', 'CN=Linus Torvalds,OU=Platform,OU=Engineering,OU=Staff', 'CN=Ada Lovelace,CN=Users', 'CN=Dennis Ritchie,OU=Engineering,OU=Staff']) {
      expect(root.has(parseDn(user(u)).key)).toBe(true);
    }
    const adminMembers = (await members(ALL_USERS, ADMIN, true)).members;
    expect(adminMembers.has(parseDn(user('CN=Ada Lovelace,CN=Users')).key)).toBe(true);
  }, 120_000);

  it('with nested: false counts direct members only, like a plain memberOf query', async () => {
    for (const g of [ROOT, CYCLE_B, IT_ADMINS, ALL_HANDS]) {
      const direct = await members(ALL_USERS, g, false);
      expect(direct.groups).toEqual([g]);
      expect([...direct.members].sort()).toEqual(await reference(ALL_USERS, g, false));
    }
    expect((await members(ALL_USERS, ROOT, false)).members.size).toBe(0);
  }, 120_000);

  it.each([true, false])('several admin groups read with one membership search give each group the members it gives alone (nested: %s)', async (nested) => {
    const list = [ROOT, CYCLE_B, IT_ADMINS, ADMIN, ALL_HANDS, EMPTY];
    const together = await membersOfGroupSets(session, cfg(ALL_USERS), await Promise.all(list.map(async (g) => ({ groups: nested ? await nestedGroups(session, g, cfg(ALL_USERS)) : [g] }))), await inScope(ALL_USERS), 'admin groups');
    expect(together).not.toBeUndefined();
    const alone = await Promise.all(list.map(async (g) => [...(await members(ALL_USERS, g, nested)).members].sort()));
    expect(together?.map((m) => [...m].sort())).toEqual(alone);
    expect(alone.some((m) => m.length > 1500)).toBe(true);
  }, 300_000);

  it('readDirectory with several admin groups (one named twice, one missing): each its own members, the duplicate read once', async () => {
    const c = { ...cfg(DEFAULT_FILTER), adminPromotion: { enabled: true, groups: [IT_ADMINS, 'Admin', ADMIN, `CN=No-Such-Group-${tag},OU=Groups,${D}`, ROOT], nested: true } };
    const read = await readDirectory(session, c, silentLogger());
    expect(read.adminGroups.map((g) => [g.ref, g.found])).toEqual(c.adminPromotion.groups.map((g) => [g, !g.startsWith('CN=No-Such')]));
    for (const [i, g] of [[0, IT_ADMINS], [1, ADMIN], [2, ADMIN], [4, ROOT]] as const) {
      expect({ g, members: [...(read.adminGroups[i]?.members ?? [])].sort() }).toEqual({ g, members: [...(await members(DEFAULT_FILTER, g, true)).members].sort() });
    }
    expect(read.adminGroups[1]?.members).toBe(read.adminGroups[2]?.members);
    expect(read.adminGroups[3]?.members.size).toBe(0);
  }, 300_000);

  it('splits long lists of groups over several searches with the same result', async () => {
    const small: MembershipLimits = { orChunk: 2, maxDepth: 32 };
    const split = await members(ALL_USERS, ROOT, true, small);
    const whole = await members(ALL_USERS, ROOT, true);
    expect(split.groups.length).toBeGreaterThan(2);
    expect([...split.members].sort()).toEqual([...whole.members].sort());
  }, 120_000);

  it('stops at the depth bound with an error that says what to change, instead of a partial membership', async () => {
    // Eq-Root > Eq-Cycle-A > Eq-Cycle-B > All-Hands: three levels
    const err: unknown = await nestedGroups(session, ROOT, cfg(ALL_USERS), { orChunk: 100, maxDepth: 2 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAdSyncError(err)).toBe(true);
    if (!isAdSyncError(err)) return;
    expect(err.reason).toBe('DirectoryError');
    expect(err.message).toContain(`nested more than 2 levels deep below the admin group ${ROOT} (${ALL_HANDS} is 3 levels down)`);
    expect(err.detail).toMatch(/set spec\.adminPromotion\.nested: false/);
    expect(await nestedGroups(session, ROOT, cfg(ALL_USERS), { orChunk: 100, maxDepth: 3 })).toHaveLength(6);
  }, 120_000);
});
