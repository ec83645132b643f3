import { describe, expect, it } from 'vitest';
import { AndFilter, BerReader, BerWriter, FilterParser, OrFilter } from 'ldapts';
import { groupByNameFilter, describeGroupType, toDirectoryEntry } from '../../src/ldap/reader.ts';
import type { Filter } from '../../src/ldap/filter.ts';
import { adBindSubCode, mapLdapError } from '../../src/ldap/errors.ts';
import { directMembersFilter, groupsDirectlyInFilter } from '../../src/ldap/membership-filters.ts';
import { domainOf } from '../../src/ldap/membership.ts';
import { parseDn } from '../../src/ldap/dn.ts';
import { InvalidCredentialsError, StrongAuthRequiredError, NoSuchObjectError, OperationsError, SizeLimitExceededError, TimeLimitExceededError } from 'ldapts';

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

  it('composes membership filters from filter objects, group DNs as values', () => {
    expect(directMembersFilter(['CN=G,DC=corp']).toString()).toBe('(memberOf=CN=G,DC=corp)');
    // a DN with an escaped comma and filter metacharacters stays one value, escaped only when printed
    const many = directMembersFilter(['CN=Smith\\, John (EU)*,OU=Groups,DC=corp', 'CN=H,DC=corp']);
    expect(many.toString()).toBe('(|(memberOf=CN=Smith\\5c, John \\28EU\\29\\2a,OU=Groups,DC=corp)(memberOf=CN=H,DC=corp))');
    expect(FilterParser.parseString(many.toString()).toString()).toBe(many.toString());
    expect(groupsDirectlyInFilter(['CN=A,DC=corp', 'CN=B,DC=corp']).toString()).toBe('(&(objectClass=group)(|(memberOf=CN=A,DC=corp)(memberOf=CN=B,DC=corp)))');
    expect(() => directMembersFilter([])).toThrow();
  });

  it('walks nested groups in the domain naming context of the admin group', () => {
    expect(domainOf(parseDn('CN=IT-Admins,OU=Groups,DC=corp,DC=example,DC=com'), 'OU=Staff,DC=x')).toBe('DC=corp,DC=example,DC=com');
    expect(domainOf(parseDn('CN=Admins,O=Example'), 'O=Example')).toBe('O=Example');
  });

  it('reduces an entry to DN, email and name, whatever case the server spells attributes in', () => {
    const dn = 'CN=Smith\\, John,OU=Sales,DC=corp';
    expect(toDirectoryEntry({ dn, userprincipalname: ['john@corp.example.com'], DisplayName: '', givenName: 'John', SN: [Buffer.from('Smith')], cn: 'Smith, John' }, 'userPrincipalName')).toEqual({
      dn,
      email: 'john@corp.example.com',
      name: 'John Smith',
    });
    expect(toDirectoryEntry({ dn, mail: [], cn: 'Smith, John' }, 'mail')).toEqual({ dn, name: 'Smith, John' });
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

  it.each([
    ['AD timeLimitExceeded (3)', new TimeLimitExceededError('')],
    ['Samba operationsError from ldb_wait', new OperationsError('00002020: ldb_wait from ../../source4/ldap_server/ldap_backend.c:892 with LDB_WAIT_ALL: Operations error (1) Code: 0x1')],
  ])('a search stopped by the time limit (%s) is SearchTimeLimitExceeded, naming the search and what to change', (_name, err) => {
    const e = mapLdapError(err, { phase: 'search', url: 'ldaps://dc1', baseDN: 'DC=corp', search: 'members of CN=IT-Admins,DC=corp', timeLimitSeconds: 7 });
    expect(e.reason).toBe('SearchTimeLimitExceeded');
    expect(e.source).toBe('directory');
    expect(e.message).toBe('The DC stopped the search for members of CN=IT-Admins,DC=corp at its time limit (spec.ldap.timeoutSeconds: 7 s); nothing is planned from a partial read');
    expect(e.detail).toMatch(/Raise spec\.ldap\.timeoutSeconds .* narrow spec\.ldap\.baseDN or spec\.userFilter, or have the AD admins index/);
  });

  it('a size limit is SearchTimeLimitExceeded with a hint about scope and page size; other operations errors are not', () => {
    const size = mapLdapError(new SizeLimitExceededError(''), { phase: 'search', url: 'ldaps://dc1', search: 'users' });
    expect(size).toMatchObject({ reason: 'SearchTimeLimitExceeded', message: expect.stringContaining('for users at its size limit') as string });
    expect(size.detail).toMatch(/Narrow spec\.ldap\.baseDN or spec\.userFilter, or lower spec\.ldap\.pageSize/);
    expect(mapLdapError(new OperationsError('00002020: Operation unavailable without authentication'), { phase: 'search', url: 'ldaps://dc1' }).reason).toBe('DirectoryError');
  });
});
