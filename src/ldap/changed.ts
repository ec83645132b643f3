/**
 * The read of a changed-only run: only what changed on this DC since a USN.
 *
 * - One search lists the objects of the domain (of the base DN, without admin
 *   promotion) whose uSNChanged is above the USN,
 *   reading only objectClass: with nothing changed, that is the whole read. (Samba
 *   does not index a uSNChanged range, so this plain filter, which it answers by one
 *   pass, is several times faster there than one ANDed with the user filter; AD
 *   answers it from its uSNChanged index.)
 * - Users: each changed object below the base DN is read with a base-scope search
 *   and the user filter, so only entries the filter matches come back (a new user, a
 *   changed attribute, a rename or a move, e.g. out of an excluded OU); when many
 *   changed, one subtree search with the user filter and the uSNChanged range
 *   instead. They are read with their memberOf.
 * - Admin membership: adding a member changes the GROUP (member is stored on the
 *   group; memberOf is a back link and does not change the user's uSNChanged). So
 *   when a group of an admin group's nesting changed, that group's members the user
 *   filter matches (and those of the groups nested below it) are read too, all
 *   admins. A changed user is an admin when its memberOf holds a group of the
 *   nesting. The nesting is only walked when a group changed or a changed user is
 *   in some group.
 *
 * The planner then applies the rules of a full run to these entries (exclusion,
 * email, names, promotion), so a changed-only run creates and promotes only what a
 * full run would.
 */
import type { Entry } from 'ldapts';
import type { Logger } from '../log.ts';
import { isWithinKey, parseDn, tryParseDn } from './dn.ts';
import { and, atLeast, type Filter } from './filter.ts';
import { directMembersFilter } from './membership-filters.ts';
import { domainOf, nestedGroups, DEFAULT_MEMBERSHIP_LIMITS, type MembershipLimits } from './membership.ts';
import { resolveGroup, toDirectoryEntry, type DirectoryEntry, type ReadConfig, type ResolvedAdminGroup } from './reader.ts';
import type { DirectorySession } from './session.ts';

const NAME_ATTRIBUTES = ['displayName', 'givenName', 'sn', 'cn'];
/** Up to this many changed objects are read one by one (base-scope searches); more with one subtree search. */
export const MAX_BASE_READS = 50;

export interface ChangedRead {
  /** Users changed since the USN, and members of changed admin-nesting groups (deduplicated by DN). */
  entries: DirectoryEntry[];
  /** DN keys of those entries that are admin-group members. */
  adminMembers: Set<string>;
  /** The admin groups, when membership had to be read (else empty). */
  adminGroups: ResolvedAdminGroup[];
  /** Counts, for logs: objects changed in the domain, user entries among them, groups among them. */
  changedObjects: number;
  changedUsers: number;
  changedGroups: number;
}

/** uSNChanged above `usn`. */
export function changedSince(usn: number): Filter {
  return atLeast('uSNChanged', String(usn + 1));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function search(session: DirectorySession, name: string, base: string, filter: Filter, attributes: string[], pageSize: number): Promise<Entry[]> {
  let out: Entry[] = [];
  await session.pagedSearch(
    name,
    { base, filter, scope: 'sub', attributes, pageSize },
    (page) => {
      for (const e of page) out.push(e);
    },
    () => {
      out = [];
    },
  );
  return out;
}

function values(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const raw = key === undefined ? [] : entry[key];
  return (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

const keyOf = (dn: string): string | undefined => tryParseDn(dn)?.key;

export async function readChanges(session: DirectorySession, cfg: ReadConfig, usn: number, logger: Logger, limits: MembershipLimits = DEFAULT_MEMBERSHIP_LIMITS): Promise<ChangedRead> {
  const since = changedSince(usn);
  const attributes = [cfg.emailAttribute, ...NAME_ATTRIBUTES, 'memberOf'];
  const baseKey = parseDn(cfg.baseDN).key;
  // Admin groups live in the domain's naming context, which may be above the base DN; without promotion only the base DN matters.
  const base = cfg.adminPromotion.enabled ? domainOf(parseDn(cfg.baseDN), cfg.baseDN) : cfg.baseDN;
  const changed = await search(session, `objects changed since USN ${usn}`, base, since, ['objectClass'], cfg.pageSize);
  const changedGroups = new Set<string>();
  const candidates: string[] = [];
  for (const e of changed) {
    const key = keyOf(e.dn);
    if (key === undefined) continue;
    if (values(e, 'objectClass').some((c) => c.toLowerCase() === 'group')) changedGroups.add(key);
    if (isWithinKey(key, baseKey)) candidates.push(e.dn);
  }

  // The changed entries the user filter matches, with their memberOf.
  const read: Entry[] = [];
  if (candidates.length > MAX_BASE_READS) {
    read.push(...(await search(session, `users changed since USN ${usn}`, cfg.baseDN, and(cfg.userFilter, since), attributes, cfg.pageSize)));
  } else {
    for (const dn of candidates) {
      read.push(...(await session.search(`the changed entry ${dn}`, dn, { scope: 'base', filter: cfg.userFilter, attributes }, { missingIsEmpty: true })));
    }
  }
  const byKey = new Map<string, DirectoryEntry>();
  const memberOf = new Map<string, string[]>();
  for (const e of read) {
    const key = parseDn(e.dn).key;
    byKey.set(key, toDirectoryEntry(e, cfg.emailAttribute));
    const groups = values(e, 'memberOf').flatMap((g) => keyOf(g) ?? []);
    if (groups.length > 0) memberOf.set(key, groups);
  }
  const changedUsers = byKey.size;

  const adminMembers = new Set<string>();
  const adminGroups: ResolvedAdminGroup[] = [];
  if (cfg.adminPromotion.enabled && (changedGroups.size > 0 || memberOf.size > 0)) {
    // Every group of every admin group's nesting, DN key -> DN.
    const nesting = new Map<string, string>();
    for (const ref of cfg.adminPromotion.groups) {
      const group = await resolveGroup(session, cfg, ref);
      adminGroups.push(group);
      if (!group.found || !group.dn) continue;
      const inside = cfg.adminPromotion.nested ? await nestedGroups(session, group.dn, cfg, limits) : [group.dn];
      for (const dn of inside) nesting.set(parseDn(dn).key, dn);
    }
    // Changed users in a group of the nesting.
    for (const [key, groups] of memberOf) if (groups.some((g) => nesting.has(g))) adminMembers.add(key);
    // Changed groups of the nesting, and what is nested below them: their members may be new admins.
    const affected = new Map<string, string>();
    for (const [key, dn] of nesting) {
      if (!changedGroups.has(key) || affected.has(key)) continue;
      const below = cfg.adminPromotion.nested ? await nestedGroups(session, dn, cfg, limits) : [dn];
      for (const b of below) affected.set(parseDn(b).key, b);
    }
    for (const [i, part] of chunks([...affected.values()], limits.orChunk).entries()) {
      const members = await search(session, `members of changed admin groups (part ${i + 1})`, cfg.baseDN, and(cfg.userFilter, directMembersFilter(part)), attributes, cfg.pageSize);
      for (const e of members) {
        const key = parseDn(e.dn).key;
        if (!byKey.has(key)) byKey.set(key, toDirectoryEntry(e, cfg.emailAttribute));
        adminMembers.add(key);
      }
    }
  }
  logger.debug({ usn, changedObjects: changed.length, changedUsers, changedGroups: changedGroups.size, entries: byKey.size, adminMembers: adminMembers.size }, 'changes read');
  return { entries: [...byKey.values()], adminMembers, adminGroups, changedObjects: changed.length, changedUsers, changedGroups: changedGroups.size };
}
