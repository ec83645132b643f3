/**
 * Admin-group membership without asking the DC to evaluate a group chain per user
 * (LDAP_MATCHING_RULE_IN_CHAIN, which takes AD and Samba seconds per query on large
 * directories): first the groups nested in an admin group are found by walking
 * groups only, level by level, with `(&(objectClass=group)(|(memberOf=G1)...))`
 * searches (each group searched once, cycle-safe, depth-bounded); then one
 * `(|(memberOf=G1)...(memberOf=Gn))` search below the base DN lists the direct
 * members of any of those groups (split into chunks when the list is long), and the
 * admin-group members are those of them the user filter matched (the entries the
 * users search read). `member` is never read, so large groups (AD's ranged retrieval
 * above 1,500 values) do not matter. With several admin groups, one such search covers
 * all their groups and the matched entries' own `memberOf` says which admin group each
 * is in (membersOfGroupSets); should memberOf come in ranges, the groups are searched
 * one by one.
 *
 * The user filter is not repeated in the membership search: AD indexes memberOf
 * (a back link) either way, and Samba, which does not, answers a plain memberOf
 * filter about three times faster than one ANDed with the user filter.
 */
import { directoryError } from '../errors.ts';
import type { Entry } from 'ldapts';
import { escapeDnValue, parseDn, tryParseDn, type Dn } from './dn.ts';
import { directMembersFilter, groupsDirectlyInFilter } from './membership-filters.ts';
import type { DirectorySession } from './session.ts';

export interface MembershipLimits {
  /** Most `memberOf=` terms in one OR filter; longer lists are split over several searches. */
  orChunk: number;
  /** Most levels of nesting below an admin group; deeper nesting fails the read. */
  maxDepth: number;
}

export const DEFAULT_MEMBERSHIP_LIMITS: MembershipLimits = { orChunk: 100, maxDepth: 32 };

export interface MembershipRead {
  baseDN: string;
  pageSize: number;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Where groups nested in `group` can be: the domain naming context of its DN (its
 * trailing DC= components), where AD keeps the domain's groups; `fallback` when
 * the DN has none.
 */
export function domainOf(group: Dn, fallback: string): string {
  const dcs: string[] = [];
  for (let i = group.rdns.length - 1; i >= 0; i--) {
    const rdn = group.rdns[i];
    const ava = rdn?.length === 1 ? rdn[0] : undefined;
    if (ava?.type !== 'dc') break;
    dcs.unshift(`DC=${escapeDnValue(ava.value)}`);
  }
  return dcs.length > 0 ? dcs.join(',') : fallback;
}

/**
 * The groups nested in `groupDN` at any depth, `groupDN` first: DNs as the DC
 * spells them. A group reached twice (a cycle, or two paths) is searched once.
 */
export async function nestedGroups(session: DirectorySession, groupDN: string, cfg: MembershipRead, limits: MembershipLimits = DEFAULT_MEMBERSHIP_LIMITS): Promise<string[]> {
  const root = parseDn(groupDN);
  const base = domainOf(root, cfg.baseDN);
  const seen = new Map<string, string>([[root.key, groupDN]]);
  let frontier = [groupDN];
  for (let depth = 1; frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const [i, part] of chunks(frontier, limits.orChunk).entries()) {
      const found: string[] = [];
      await session.pagedSearch(
        `groups nested in ${groupDN} (level ${depth}${frontier.length > limits.orChunk ? `, part ${i + 1}` : ''})`,
        { base, filter: groupsDirectlyInFilter(part), scope: 'sub', attributes: ['1.1'], pageSize: cfg.pageSize },
        (page) => {
          for (const e of page) found.push(e.dn);
        },
        () => {
          found.length = 0;
        },
      );
      for (const dn of found) {
        const key = parseDn(dn).key;
        if (seen.has(key)) continue;
        seen.set(key, dn);
        next.push(dn);
      }
    }
    if (next.length > 0 && depth > limits.maxDepth) {
      throw directoryError(
        'DirectoryError',
        'fix-config',
        `Groups are nested more than ${limits.maxDepth} levels deep below the admin group ${groupDN} (${next[0]} is ${depth} levels down); nothing is planned from a partial membership read`,
        { hint: 'Flatten the nesting below the admin group, or set spec.adminPromotion.nested: false to promote direct members only' },
      );
    }
    frontier = next;
  }
  return [...seen.values()];
}

/**
 * DN keys of the entries below the base DN that are direct members of any of
 * `groups` (`label` names them in errors: "members of CN=...").
 */
export async function directMembersOfAny(session: DirectorySession, cfg: MembershipRead, groups: readonly string[], label: string, limits: MembershipLimits = DEFAULT_MEMBERSHIP_LIMITS): Promise<Set<string>> {
  const members = new Set<string>();
  const parts = chunks(groups, limits.orChunk);
  for (const [i, part] of parts.entries()) {
    const found: string[] = [];
    await session.pagedSearch(
      parts.length > 1 ? `${label} (part ${i + 1} of ${parts.length})` : label,
      { base: cfg.baseDN, filter: directMembersFilter(part), scope: 'sub', attributes: ['1.1'], pageSize: cfg.pageSize },
      (page) => {
        for (const e of page) found.push(e.dn);
      },
      () => {
        found.length = 0;
      },
    );
    for (const dn of found) members.add(parseDn(dn).key);
  }
  return members;
}

/**
 * Members of an admin group among `inScope` (DN keys of the entries the user filter
 * matched): through nested groups (walked as above) or direct only.
 */
export async function adminGroupMembers(
  session: DirectorySession,
  cfg: MembershipRead,
  groupDN: string,
  nested: boolean,
  inScope: ReadonlySet<string>,
  limits: MembershipLimits = DEFAULT_MEMBERSHIP_LIMITS,
): Promise<{ members: Set<string>; groups: string[] }> {
  const groups = nested ? await nestedGroups(session, groupDN, cfg, limits) : [groupDN];
  const direct = await directMembersOfAny(session, cfg, groups, `members of ${groupDN}`, limits);
  const members = new Set<string>();
  for (const key of direct) if (inScope.has(key)) members.add(key);
  return { members, groups };
}

/** One admin group's groups (itself and, when nested, those inside it), as nestedGroups gives them. */
export interface GroupSet {
  groups: readonly string[];
}

/**
 * The members of several admin groups among `inScope`, with one `(|(memberOf=...))`
 * search over all their groups instead of one per admin group (each such search scans
 * the users below the base DN: ~1.8 s of the DC's time at 100,000 users). Which admin
 * group a member belongs to is read from the memberOf values of the matched entries
 * only (the admin-group members, not every user). Undefined when memberOf cannot say
 * (a value list the DC sends in ranges, above 1,500 groups, or a matched entry whose
 * memberOf names none of the groups, e.g. hidden by access rights): the caller then
 * searches group by group.
 */
export async function membersOfGroupSets(session: DirectorySession, cfg: MembershipRead, sets: readonly GroupSet[], inScope: ReadonlySet<string>, label: string, limits: MembershipLimits = DEFAULT_MEMBERSHIP_LIMITS): Promise<Array<Set<string>> | undefined> {
  const all = new Map<string, string>();
  for (const set of sets) for (const g of set.groups) all.set(parseDn(g).key, g);
  const groupsOf = new Map<string, Set<string>>();
  let usable = true;
  const parts = chunks([...all.values()], limits.orChunk);
  for (const [i, part] of parts.entries()) {
    let found: Array<{ key: string; groups: string[] | undefined }> = [];
    await session.pagedSearch(
      parts.length > 1 ? `${label} (part ${i + 1} of ${parts.length})` : label,
      { base: cfg.baseDN, filter: directMembersFilter(part), scope: 'sub', attributes: ['memberOf'], pageSize: cfg.pageSize },
      (page) => {
        for (const e of page) {
          const key = parseDn(e.dn).key;
          if (inScope.has(key)) found.push({ key, groups: memberOfValues(e) });
        }
      },
      () => {
        found = [];
      },
    );
    for (const { key, groups } of found) {
      if (groups === undefined) {
        usable = false;
        continue;
      }
      const keys = groupsOf.get(key) ?? new Set<string>();
      for (const g of groups) {
        const k = tryParseDn(g)?.key;
        if (k !== undefined && all.has(k)) keys.add(k);
      }
      if (keys.size === 0) usable = false;
      groupsOf.set(key, keys);
    }
    if (!usable) return undefined;
  }
  return sets.map((set) => {
    const wanted = new Set(set.groups.map((g) => parseDn(g).key));
    const members = new Set<string>();
    for (const [member, groups] of groupsOf) for (const g of groups) if (wanted.has(g)) members.add(member);
    return members;
  });
}

/** memberOf's values, or undefined when the DC sent them in ranges (memberOf;range=...). */
function memberOfValues(entry: Entry): string[] | undefined {
  let values: string[] = [];
  for (const k in entry) {
    const lower = k.toLowerCase();
    if (lower.startsWith('memberof;range=')) return undefined;
    if (lower !== 'memberof') continue;
    const raw = entry[k];
    values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
  }
  return values;
}
