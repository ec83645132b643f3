/**
 * The filters of the admin-membership read, composed from ldapts Filter objects
 * (values are sent as BER, so nothing is pasted into a filter string and nothing
 * needs escaping).
 */
import { AndFilter, EqualityFilter, OrFilter, type Filter } from 'ldapts';

/** `(|(memberOf=G1)...(memberOf=Gn))` (or the one term): direct members of any of these groups. */
export function directMembersFilter(groupDNs: readonly string[]): Filter {
  if (groupDNs.length === 0) throw new Error('directMembersFilter: no group');
  const terms = groupDNs.map((dn) => new EqualityFilter({ attribute: 'memberOf', value: dn }));
  return terms.length === 1 ? (terms[0] as Filter) : new OrFilter({ filters: terms });
}

/** `(&(objectClass=group)(|(memberOf=G1)...(memberOf=Gn)))`: the groups directly inside any of these. */
export function groupsDirectlyInFilter(groupDNs: readonly string[]): Filter {
  return new AndFilter({ filters: [new EqualityFilter({ attribute: 'objectClass', value: 'group' }), directMembersFilter(groupDNs)] });
}
