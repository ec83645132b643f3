/**
 * Reads what a sync needs from AD: the entries the user filter matches (only the
 * attributes needed), the admin groups resolved from DNs or names, and which
 * entries are members (membership.ts: a walk over groups and memberOf filters,
 * never reading large `member` attributes). Any failure fails the whole read: no
 * plan is made from a partial directory.
 */
import type { Entry } from 'ldapts';
import { directoryError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { nameOf } from '../rules/names.ts';
import { dnKey, isDnLike, parseDn, simpleDnKey, tryParseDn } from './dn.ts';
import { and, equals, or, present, type Filter } from './filter.ts';
import { adminGroupMembers, DEFAULT_MEMBERSHIP_LIMITS, membersOfGroupSets, nestedGroups, type MembershipLimits } from './membership.ts';
import type { DirectorySession } from './session.ts';

export interface ReadConfig {
  baseDN: string;
  pageSize: number;
  /** The parsed spec.userFilter (src/ldap/filter.ts); every search that uses it composes it as a Filter. */
  userFilter: Filter;
  emailAttribute: 'userPrincipalName' | 'mail';
  adminPromotion: { enabled: boolean; groups: string[]; nested: boolean };
}

/**
 * One directory entry, reduced to what planning needs (100,000 of them are held at
 * once): the name is worked out when the entry is read.
 */
export interface DirectoryEntry {
  dn: string;
  /**
   * The DN's canonical key (dnKey), worked out by the users search while the DC prepares
   * the next page, so that neither the admin-membership check nor the planner works it
   * out again after the read. Absent where it is not a simple DN (dnKey then parses it)
   * or where the entry was made elsewhere.
   */
  key?: string;
  email?: string;
  /** Rule 11, applied when read: displayName, else "givenName sn", else cn. */
  name?: string;
}

export interface ResolvedAdminGroup {
  ref: string;
  found: boolean;
  dn?: string;
  /** Other groups the name matched, when a name was ambiguous. */
  alsoMatched?: string[];
  /** DN keys of matched entries that are members. */
  members: Set<string>;
}

export interface DirectoryRead {
  entries: DirectoryEntry[];
  adminGroups: ResolvedAdminGroup[];
}

const NAME_ATTRIBUTES = ['displayName', 'givenName', 'sn', 'cn'] as const;

export function firstString(entry: Entry, attribute: string): string | undefined {
  // ldapts keys attributes as the server spelled them; AD keeps the schema's case.
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  return key === undefined ? undefined : asString(entry[key]);
}

function asString(raw: Entry[string] | undefined): string | undefined {
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined) return undefined;
  const s = typeof value === 'string' ? value : value.toString('utf8');
  return s === '' ? undefined : s;
}

/** One pass over the entry's attributes (called 100,000 times in a large read). */
export function toDirectoryEntry(entry: Entry, emailAttribute: string): DirectoryEntry {
  const emailKey = emailAttribute.toLowerCase();
  const names: { displayName?: string; givenName?: string; sn?: string; cn?: string } = {};
  let email: string | undefined;
  for (const k in entry) {
    if (k === 'dn') continue;
    // ldapts keys attributes as the server spelled them; AD keeps the schema's case.
    const lower = k.toLowerCase();
    if (lower === emailKey) email = asString(entry[k]);
    else if (lower === 'displayname') names.displayName = asString(entry[k]);
    else if (lower === 'givenname') names.givenName = asString(entry[k]);
    else if (lower === 'sn') names.sn = asString(entry[k]);
    else if (lower === 'cn') names.cn = asString(entry[k]);
  }
  const out: DirectoryEntry = { dn: entry.dn };
  if (email !== undefined) out.email = email;
  const name = nameOf(names);
  if (name !== undefined) out.name = name;
  return out;
}

/** Confirms the base DN exists (a clear NoSuchBaseDN rather than an empty directory). */
export async function checkBaseDN(session: DirectorySession, baseDN: string): Promise<void> {
  const found = await session.search('the base DN', baseDN, { scope: 'base', filter: present('objectClass'), attributes: ['1.1'] });
  if (found.length === 0) {
    throw directoryError('NoSuchBaseDN', 'fix-config', `The base DN ${baseDN} was not found`);
  }
}

export async function readUsers(session: DirectorySession, cfg: ReadConfig): Promise<DirectoryEntry[]> {
  let entries: DirectoryEntry[] = [];
  await session.pagedSearch(
    `users matching spec.userFilter below ${cfg.baseDN}`,
    {
      base: cfg.baseDN,
      filter: cfg.userFilter,
      scope: 'sub',
      attributes: [cfg.emailAttribute, ...NAME_ATTRIBUTES],
      pageSize: cfg.pageSize,
    },
    (page) => {
      for (const e of page) {
        const entry = toDirectoryEntry(e, cfg.emailAttribute);
        const key = simpleDnKey(entry.dn);
        if (key !== undefined) entry.key = key;
        entries.push(entry);
      }
    },
    () => {
      entries = [];
    },
  );
  return entries;
}

/** Filter finding a group by sAMAccountName or cn; the name is a value, never filter syntax. */
export function groupByNameFilter(name: string): Filter {
  return and(equals('objectClass', 'group'), or(equals('sAMAccountName', name), equals('cn', name)));
}

function looksLikeDn(ref: string): boolean {
  return isDnLike(ref) && tryParseDn(ref) !== undefined;
}

/** Finds the group a spec entry names: a DN, or a sAMAccountName / cn. */
export async function resolveGroup(session: DirectorySession, cfg: ReadConfig, ref: string): Promise<ResolvedAdminGroup> {
  if (looksLikeDn(ref)) {
    // noSuchObject: the group is not there
    const dns = (await session.search(`the admin group ${ref}`, ref, { scope: 'base', filter: equals('objectClass', 'group'), attributes: ['1.1'] }, { missingIsEmpty: true })).map((e) => e.dn);
    return dns[0] ? { ref, found: true, dn: dns[0], members: new Set() } : { ref, found: false, members: new Set() };
  }
  let matches: Array<{ dn: string; sam?: string }> = [];
  await session.pagedSearch(
    `the admin group named ${ref}`,
    {
      base: cfg.baseDN,
      filter: groupByNameFilter(ref),
      scope: 'sub',
      attributes: ['sAMAccountName'],
      pageSize: cfg.pageSize,
    },
    (page) => {
      for (const e of page) {
        const sam = firstString(e, 'sAMAccountName');
        matches.push(sam === undefined ? { dn: e.dn } : { dn: e.dn, sam });
      }
    },
    () => {
      matches = [];
    },
  );
  // sAMAccountName is unique in a domain; prefer it over a cn that may repeat across OUs.
  const bySam = matches.filter((m) => m.sam?.toLowerCase() === ref.toLowerCase());
  const chosen = bySam.length > 0 ? bySam : matches;
  const [first, ...rest] = chosen.map((m) => m.dn).sort();
  if (!first) return { ref, found: false, members: new Set() };
  return rest.length > 0 ? { ref, found: true, dn: first, alsoMatched: rest, members: new Set() } : { ref, found: true, dn: first, members: new Set() };
}

/**
 * Members (DN keys among inScope) of each distinct admin group, keyed by the group's DN
 * key: with one membership search for all of them when there are several
 * (membersOfGroupSets), else (or when memberOf cannot say) one per group.
 */
async function adminMembersOf(session: DirectorySession, cfg: ReadConfig, groups: Array<[key: string, dn: string]>, inScope: ReadonlySet<string>, logger: Logger, limits: MembershipLimits): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  const nested = cfg.adminPromotion.nested;
  if (groups.length > 1) {
    const sets: Array<{ groups: string[] }> = [];
    for (const [, dn] of groups) sets.push({ groups: nested ? await nestedGroups(session, dn, cfg, limits) : [dn] });
    const members = await membersOfGroupSets(session, cfg, sets, inScope, `members of the admin groups ${groups.map(([, dn]) => dn).join('; ')}`, limits);
    if (members) {
      groups.forEach(([key, dn], i) => {
        const m = members[i] ?? new Set<string>();
        out.set(key, m);
        logger.debug({ group: dn, nestedGroups: (sets[i]?.groups.length ?? 1) - 1, members: m.size }, 'admin group read');
      });
      return out;
    }
    logger.debug('memberOf cannot tell the admin groups apart; reading their members group by group');
  }
  for (const [key, dn] of groups) {
    const read = await adminGroupMembers(session, cfg, dn, nested, inScope, limits);
    out.set(key, read.members);
    logger.debug({ group: dn, nestedGroups: read.groups.length - 1, members: read.members.size }, 'admin group read');
  }
  return out;
}

/** The whole read for a preview or a sync. */
export async function readDirectory(session: DirectorySession, cfg: ReadConfig, logger: Logger, limits: MembershipLimits = DEFAULT_MEMBERSHIP_LIMITS): Promise<DirectoryRead> {
  await checkBaseDN(session, cfg.baseDN);
  const entries = await readUsers(session, cfg);
  const adminGroups: ResolvedAdminGroup[] = [];
  if (cfg.adminPromotion.enabled) {
    const inScope = new Set(entries.map((e) => e.key ?? dnKey(e.dn)));
    for (const ref of cfg.adminPromotion.groups) {
      const group = await resolveGroup(session, cfg, ref);
      if (group.alsoMatched) logger.warn({ ref, chosen: group.dn, alsoMatched: group.alsoMatched }, 'admin group name matches several groups; using the first');
      adminGroups.push(group);
    }
    // The same group named twice (by DN and by name) is read once.
    const distinct = new Map<string, string>();
    for (const g of adminGroups) if (g.found && g.dn) distinct.set(parseDn(g.dn).key, g.dn);
    const membersByKey = await adminMembersOf(session, cfg, [...distinct.entries()], inScope, logger, limits);
    for (const g of adminGroups) if (g.found && g.dn) g.members = membersByKey.get(parseDn(g.dn).key) ?? new Set();
  }
  logger.debug({ entries: entries.length, adminGroups: adminGroups.length }, 'directory read');
  return { entries, adminGroups };
}

export interface ContainerInfo {
  dn: string;
  kind: 'organizationalUnit' | 'container';
}

/** OUs and containers below the base DN (Discover OUs). */
export async function readContainers(session: DirectorySession, cfg: Pick<ReadConfig, 'baseDN' | 'pageSize'>): Promise<ContainerInfo[]> {
  let out: ContainerInfo[] = [];
  await session.pagedSearch(
    'OUs and containers',
    {
      base: cfg.baseDN,
      filter: or(equals('objectClass', 'organizationalUnit'), equals('objectClass', 'container'), equals('objectClass', 'builtinDomain')),
      scope: 'sub',
      attributes: ['objectClass'],
      pageSize: cfg.pageSize,
    },
    (page) => {
      for (const e of page) {
        const classes = ([] as unknown[]).concat(e.objectClass ?? e.objectclass ?? []).map((c) => String(c).toLowerCase());
        out.push({ dn: e.dn, kind: classes.includes('organizationalunit') ? 'organizationalUnit' : 'container' });
      }
    },
    () => {
      out = [];
    },
  );
  return out;
}

export interface GroupInfo {
  dn: string;
  name: string;
  sAMAccountName?: string;
  description?: string;
  security: boolean;
  scope: 'global' | 'domainLocal' | 'universal' | 'builtin' | 'unknown';
}

const GROUP_TYPE_SECURITY = 0x80000000;

export function describeGroupType(groupType: number): Pick<GroupInfo, 'security' | 'scope'> {
  const security = (groupType & GROUP_TYPE_SECURITY) !== 0;
  const scope = groupType & 0x1 ? 'builtin' : groupType & 0x2 ? 'global' : groupType & 0x4 ? 'domainLocal' : groupType & 0x8 ? 'universal' : 'unknown';
  return { security, scope };
}

/** Groups below the base DN (Discover Groups). */
export async function readGroups(session: DirectorySession, cfg: Pick<ReadConfig, 'baseDN' | 'pageSize'>): Promise<GroupInfo[]> {
  let out: GroupInfo[] = [];
  await session.pagedSearch(
    'groups',
    {
      base: cfg.baseDN,
      filter: equals('objectClass', 'group'),
      scope: 'sub',
      attributes: ['cn', 'sAMAccountName', 'description', 'groupType'],
      pageSize: cfg.pageSize,
    },
    (page) => {
      for (const e of page) {
        const sam = firstString(e, 'sAMAccountName');
        const description = firstString(e, 'description');
        const info: GroupInfo = {
          dn: e.dn,
          name: firstString(e, 'cn') ?? sam ?? e.dn,
          ...describeGroupType(Number(firstString(e, 'groupType') ?? 0)),
        };
        if (sam !== undefined) info.sAMAccountName = sam;
        if (description !== undefined) info.description = description;
        out.push(info);
      }
    },
    () => {
      out = [];
    },
  );
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
