// One membership search for several admin groups tells them apart by the matched
// entries' memberOf values; when those cannot say (values sent in ranges, or none of
// the groups visible), the read falls back to one search per admin group, with the
// same members. A scripted session stands in for the DC.
import type { Entry } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { dnKey } from '../../src/ldap/dn.ts';
import { parseFilter } from '../../src/ldap/filter.ts';
import { membersOfGroupSets } from '../../src/ldap/membership.ts';
import { readDirectory, type ReadConfig } from '../../src/ldap/reader.ts';
import type { DirectorySession, PagedSearch } from '../../src/ldap/session.ts';
import { silentLogger } from '../../src/log.ts';

const D = 'DC=corp,DC=example,DC=com';
const G1 = `CN=Admins-One,OU=Groups,${D}`;
const G2 = `CN=Admins-Two,OU=Groups,${D}`;
const ANN = `CN=Ann,OU=Staff,${D}`;
const BOB = `CN=Bob,OU=Staff,${D}`;

/** A DC that answers the users search, group lookups, nested-group walks (none) and memberOf searches. */
function scripted(memberOf: Record<string, Entry[string] | undefined>, rangedFor: string[] = []) {
  const searches: string[] = [];
  const session = {
    search: async (_name: string, base: string) => [{ dn: base }],
    pagedSearch: async (name: string, search: PagedSearch, onPage: (e: Entry[]) => void, reset: () => void) => {
      reset();
      searches.push(name);
      if (name.startsWith('users')) return onPage([{ dn: ANN }, { dn: BOB }]);
      if (name.startsWith('groups nested')) return onPage([]);
      const wanted = JSON.stringify(search.filter);
      const entries: Entry[] = [];
      for (const [dn, groups] of [
        [ANN, [G1]],
        [BOB, [G1, G2]],
      ] as const) {
        if (!groups.some((g) => wanted.includes(g))) continue;
        const e: Entry = { dn };
        if (search.attributes.includes('memberOf')) {
          if (rangedFor.includes(dn)) e['memberOf;range=0-1499'] = [...groups];
          else if (memberOf[dn] !== undefined) e.memberOf = memberOf[dn];
        }
        entries.push(e);
      }
      onPage(entries);
    },
  };
  return { session: session as unknown as DirectorySession, searches };
}

const cfg: ReadConfig = { baseDN: D, pageSize: 500, userFilter: parseFilter('(objectClass=user)'), emailAttribute: 'userPrincipalName', adminPromotion: { enabled: true, groups: [G1, G2], nested: true } };
const scope = new Set([dnKey(ANN), dnKey(BOB)]);

describe('several admin groups, one membership search', () => {
  it('tells the groups apart by memberOf (one value or several, any spelling of the DN)', async () => {
    const { session, searches } = scripted({ [ANN]: G1.toUpperCase(), [BOB]: [G1, G2] });
    const sets = await membersOfGroupSets(session, cfg, [{ groups: [G1] }, { groups: [G2] }], scope, 'admins');
    expect(sets?.map((s) => [...s].sort())).toEqual([[dnKey(ANN), dnKey(BOB)].sort(), [dnKey(BOB)]]);
    expect(searches).toEqual(['admins']);
  });

  it.each([
    ['memberOf sent in ranges', {}, [BOB]],
    ['a matched entry whose memberOf names none of the groups', { [ANN]: G1 }, []],
  ] as const)('cannot tell them apart when %s: undefined, and readDirectory reads group by group with the right members', async (_name, memberOf, ranged) => {
    const { session } = scripted(memberOf, [...ranged]);
    expect(await membersOfGroupSets(session, cfg, [{ groups: [G1] }, { groups: [G2] }], scope, 'admins')).toBeUndefined();
    const { session: s2, searches } = scripted(memberOf, [...ranged]);
    const read = await readDirectory(s2, cfg, silentLogger());
    expect(read.adminGroups.map((g) => [g.ref, [...g.members].sort()])).toEqual([
      [G1, [dnKey(ANN), dnKey(BOB)].sort()],
      [G2, [dnKey(BOB)]],
    ]);
    expect(searches.filter((n) => n.startsWith('members of'))).toHaveLength(3); // the combined one, then one per group
  });
});
