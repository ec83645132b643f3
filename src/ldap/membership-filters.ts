/**
 * The filters of the admin-membership read, composed from Filter objects
 * (src/ldap/filter.ts: values are sent as BER, so nothing is pasted into a filter
 * string and nothing needs escaping).
 */
import { and, equals, or, type Filter } from './filter.ts';

/** `(|(memberOf=G1)...(memberOf=Gn))` (or the one term): direct members of any of these groups. */
export function directMembersFilter(groupDNs: readonly string[]): Filter {
  if (groupDNs.length === 0) throw new Error('directMembersFilter: no group');
  return or(...groupDNs.map((dn) => equals('memberOf', dn)));
}

/** `(&(objectClass=group)(|(memberOf=G1)...(memberOf=Gn)))`: the groups directly inside any of these. */
export function groupsDirectlyInFilter(groupDNs: readonly string[]): Filter {
  return and(equals('objectClass', 'group'), directMembersFilter(groupDNs));
}
