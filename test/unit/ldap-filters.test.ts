import { describe, expect, it } from 'vitest';
import { FilterParser } from 'ldapts';
import { groupByNameFilter, membersFilter, describeGroupType } from '../../src/ldap/reader.ts';
import { adBindSubCode, mapLdapError } from '../../src/ldap/errors.ts';
import { InvalidCredentialsError, StrongAuthRequiredError, NoSuchObjectError } from 'ldapts';

describe('LDAP filters', () => {
  it('escapes every value put into a filter (RFC 4515)', () => {
    expect(groupByNameFilter('Admins (EU)*')).toBe('(&(objectClass=group)(|(sAMAccountName=Admins \\28EU\\29\\2a)(cn=Admins \\28EU\\29\\2a)))');
    expect(groupByNameFilter('a\\b')).toContain('a\\5cb');
    // the result parses as one filter, not an injected one
    expect(() => FilterParser.parseString(groupByNameFilter('x)(objectClass=*'))).not.toThrow();
    expect(groupByNameFilter('x)(objectClass=*')).not.toContain(')(objectClass=*');
  });

  it('escapes DNs with escaped commas in membership filters, nested through the chain rule', () => {
    const f = membersFilter('(objectClass=user)', 'CN=Smith\\, John,OU=Groups,DC=corp', true);
    expect(f).toBe('(&(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=CN=Smith\\5c, John,OU=Groups,DC=corp))');
    expect(membersFilter('(objectClass=user)', 'CN=G,DC=corp', false)).toBe('(&(objectClass=user)(memberOf=CN=G,DC=corp))');
    expect(() => FilterParser.parseString(f)).not.toThrow();
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
