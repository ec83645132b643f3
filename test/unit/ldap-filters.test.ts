import { describe, expect, it } from 'vitest';
import { AndFilter, BerReader, BerWriter, FilterParser, OrFilter } from 'ldapts';
import { groupByNameFilter, membersFilter, describeGroupType } from '../../src/ldap/reader.ts';
import { parseFilter, type Filter } from '../../src/ldap/filter.ts';
import { adBindSubCode, mapLdapError } from '../../src/ldap/errors.ts';
import { InvalidCredentialsError, StrongAuthRequiredError, NoSuchObjectError } from 'ldapts';

/** The filter as the DC receives it (BER), decoded back by ldapts. */
function wire(filter: Filter): Filter {
  const writer = new BerWriter();
  filter.write(writer);
  return FilterParser.parse(new BerReader(writer.buffer));
}

describe('LDAP filters of the reader', () => {
  it('finds a group by name with the name as a value: escaped in the string form, sent as it is', () => {
    expect(groupByNameFilter('Admins (EU)*').toString()).toBe('(&(objectClass=group)(|(sAMAccountName=Admins \\28EU\\29\\2a)(cn=Admins \\28EU\\29\\2a)))');
    expect(groupByNameFilter('a\\b').toString()).toContain('a\\5cb');
    expect(groupByNameFilter('a\0b').toString()).toContain('a\\00b');
    const sent = wire(groupByNameFilter('x)(objectClass=*')) as AndFilter;
    expect(sent.filters).toHaveLength(2);
    expect((sent.filters[1] as OrFilter).filters.map((f) => (f as unknown as { value: string }).value)).toEqual(['x)(objectClass=*', 'x)(objectClass=*']);
  });

  it('composes the membership search as an AND of the parsed user filter and the memberOf clause, nested through the chain rule', () => {
    const f = membersFilter(parseFilter('(objectClass=user)'), 'CN=Smith\\, John,OU=Groups,DC=corp', true);
    expect(f.toString()).toBe('(&(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=CN=Smith\\5c, John,OU=Groups,DC=corp))');
    expect(membersFilter(parseFilter('(objectClass=user)'), 'CN=G,DC=corp', false).toString()).toBe('(&(objectClass=user)(memberOf=CN=G,DC=corp))');
    // a user filter with an OR stays one child of the AND: the clause never lands inside it
    const user = parseFilter('(|(userPrincipalName=alan.turing@corp.example.com)(userPrincipalName=ken.thompson@corp.example.com))');
    const sent = wire(membersFilter(user, 'CN=IT-Admins,OU=Groups,DC=corp', true)) as AndFilter;
    expect(sent.filters).toHaveLength(2);
    expect((sent.filters[0] as OrFilter).filters).toHaveLength(2);
    expect(sent.filters[1]).toMatchObject({ matchType: 'memberOf', value: 'CN=IT-Admins,OU=Groups,DC=corp' });
  });

  it('decodes group types', () => {
    expect(describeGroupType(-2147483646)).toEqual({ security: true, scope: 'global' });
    expect(describeGroupType(8)).toEqual({ security: false, scope: 'universal' });
  });
});
describe('AD error mapping', () => {
  it.each([
    ['52e', 'InvalidCredentials'],
    ['525', 'InvalidCredentials'],
    ['533', 'AccountDisabled'],
    ['532', 'PasswordExpired'],
    ['773', 'PasswordExpired'],
    ['701', 'AccountExpired'],
    ['775', 'AccountLocked'],
  ])('bind sub-code %s is %s', (code, reason) => {
    const msg = `80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data ${code}, v4563`;
    expect(adBindSubCode(msg)).toBe(code);
    const e = mapLdapError(new InvalidCredentialsError(msg), { phase: 'bind', url: 'ldaps://dc1' });
    expect(e.reason).toBe(reason);
    expect(e.next).toBe('fix-config');
  });

  it('maps strong auth, missing base DN and socket errors', () => {
    expect(mapLdapError(new StrongAuthRequiredError('x'), { phase: 'bind', url: 'ldap://dc1' }).reason).toBe('StrongAuthRequired');
    expect(mapLdapError(new NoSuchObjectError('x'), { phase: 'search', url: 'ldaps://dc1', baseDN: 'DC=x' }).message).toMatch(/DC=x does not exist/);
    expect(mapLdapError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), { phase: 'connect', url: 'ldaps://dc1' })).toMatchObject({ reason: 'ConnectionRefused', next: 'retry' });
    expect(mapLdapError(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), { phase: 'connect', url: 'ldaps://dc1' })).toMatchObject({ reason: 'TLSError', next: 'fix-config' });
    expect(mapLdapError(new Error('Connection closed before message response was received'), { phase: 'search', url: 'ldaps://dc1' }).reason).toBe('ConnectionLost');
  });
});
