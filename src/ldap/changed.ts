/**
 * The read of a changed-only run: only what changed on this DC since a USN.
 *
 * - Users: the entries the user filter matches whose uSNChanged is above the USN
 *   (a new user, a changed attribute, a rename or move, e.g. out of an excluded OU).
 * - Admin membership: adding a member changes the GROUP (member is stored on the
 *   group; memberOf is a back link and does not change the user's uSNChanged). So
 *   the groups changed since the USN are listed (one search, DNs only); those
 *   inside an admin group's nesting, and the groups nested below them, are the
 *   groups whose members may have become admins: their members the user filter
 *   matches are read as well, all admins. A changed user is an admin when it is a
 *   direct member of any group of an admin group's nesting (one search for those
 *   among the changed users). None of this runs when nothing changed.
 *
 * The planner then applies the rules of a full run to these entries (exclusion,
 * email, names, promotion), so a changed-only run creates and promotes only what a
 * full run would.
 */
import type { Entry } from 'ldapts';
import type { Logger } from '../log.ts';
import { parseDn } from './dn.ts';
import { and, atLeast, equals, type Filter } from './filter.ts';
import { directMembersFilter } from './membership-filters.ts';
import { domainOf, nestedGroups, DEFAULT_MEMBERSHIP_LIMITS, type MembershipLimits } from './membership.ts';
import { resolveGroup, toDirectoryEntry, type DirectoryEntry, type ReadConfig, type ResolvedAdminGroup } from './reader.ts';
import type { DirectorySession } from './session.ts';

const NAME_ATTRIBUTES = ['displayName', 'givenName', 'sn', 'cn'];

export interface ChangedRead {
  /** Users changed since the USN, and members of changed admin-nesting groups (deduplicated by DN). */
  entries: DirectoryEntry[];
  /** DN keys of those entries that are admin-group members. */
  adminMembers: Set<string>;
  /** The admin groups, when membership had to be read (else empty). */
  adminGroups: ResolvedAdminGroup[];
  /** Counts, for logs and status. */
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

export async function readChanges(session: DirectorySession, cfg: ReadConfig, usn: number, logger: Logger, limits: MembershipLimits = DEFAULT_MEMBERSHIP_LIMITS): Promise<ChangedRead> {
  const since = changedSince(usn);
  const attributes = [cfg.emailAttribute, ...NAME_ATTRIBUTES];
  const byKey = new Map<string, DirectoryEntry>();
  const changedUsers = await search(session, `users changed since USN ${usn}`, cfg.baseDN, and(cfg.userFilter, since), attributes, cfg.pageSize);
  for (const e of changedUsers) byKey.set(parseDn(e.dn).key, toDirectoryEntry(e, cfg.emailAttribute));

  const adminMembers = new Set<string>();
  const adminGroups: ResolvedAdminGroup[] = [];
  let changedGroups = 0;
  if (cfg.adminPromotion.enabled) {
    // Groups live in the domain's naming context, which may be above the base DN.
    const domain = domainOf(parseDn(cfg.baseDN), cfg.baseDN);
    const groups = await search(session, `groups changed since USN ${usn}`, domain, and(equals('objectClass', 'group'), since), ['1.1'], cfg.pageSize);
    changedGroups = groups.length;
    if (groups.length > 0 || byKey.size > 0) {
      const changedGroupKeys = new Set(groups.map((g) => parseDn(g.dn).key));
      // Every group of every admin group's nesting, DN key -> DN.
      const nesting = new Map<string, string>();
      for (const ref of cfg.adminPromotion.groups) {
        const group = await resolveGroup(session, cfg, ref);
        adminGroups.push(group);
        if (!group.found || !group.dn) continue;
        const inside = cfg.adminPromotion.nested ? await nestedGroups(session, group.dn, cfg, limits) : [group.dn];
        for (const dn of inside) nesting.set(parseDn(dn).key, dn);
      }
      // Changed groups of the nesting, and what is nested below them: their members may be new admins.
      const affected = new Map<string, string>();
      for (const [key, dn] of nesting) {
        if (!changedGroupKeys.has(key) || affected.has(key)) continue;
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
      // Changed users that are members of an (unchanged) group of the nesting.
      if (changedUsers.length > 0 && nesting.size > 0) {
        for (const [i, part] of chunks([...nesting.values()], limits.orChunk).entries()) {
          const members = await search(session, `changed users in admin groups (part ${i + 1})`, cfg.baseDN, and(since, directMembersFilter(part)), ['1.1'], cfg.pageSize);
          for (const e of members) {
            const key = parseDn(e.dn).key;
            if (byKey.has(key)) adminMembers.add(key);
          }
        }
      }
    }
  }
  logger.debug({ usn, changedUsers: changedUsers.length, changedGroups, entries: byKey.size, adminMembers: adminMembers.size }, 'changes read');
  return { entries: [...byKey.values()], adminMembers, adminGroups, changedUsers: changedUsers.length, changedGroups };
}
