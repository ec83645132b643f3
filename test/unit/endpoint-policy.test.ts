import { describe, expect, it } from 'vitest';
import { checkEndpoints, ldapHostAllowed, parseEndpointPolicy, truetaskUrlAllowed } from '../../src/controller/endpoint-policy.ts';
import { isAdSyncError } from '../../src/errors.ts';
import { allowedAdSyncs, secretAccessCheck } from '../../src/kube/secret-access.ts';

describe('endpoint allow-lists', () => {
  const hosts = ['dc1.corp.example.com', '*.eu.corp.example.com', '10.0.10.0/24', '192.0.2.7', 'fd00::/8'];
  it.each([
    ['dc1.corp.example.com', true],
    ['DC1.corp.example.com'.toLowerCase(), true],
    ['dc2.corp.example.com', false],
    ['dc7.eu.corp.example.com', true],
    ['eu.corp.example.com.evil.test', false],
    ['evil-eu.corp.example.com', false],
    ['10.0.10.14', true],
    ['10.0.11.14', false],
    ['192.0.2.7', true],
    ['fd00::1', true],
    ['127.0.0.1', false],
  ])('LDAP host %s allowed: %s', (host, allowed) => {
    expect(ldapHostAllowed(host, hosts)).toBe(allowed);
  });

  it('allows any endpoint when a list is empty', () => {
    expect(ldapHostAllowed('anything', [])).toBe(true);
    expect(truetaskUrlAllowed('http://anything', [])).toBe(true);
  });

  it.each([
    ['https://truetask.corp.example.com', true],
    ['https://truetask.corp.example.com/', true],
    ['https://TRUETASK.corp.example.com', true],
    ['http://truetask.corp.example.com', false],
    ['https://truetask.corp.example.com:8443', false],
    ['https://truetask.corp.example.com.evil.test', false],
    ['https://tt.corp.example.com/team-a/api', true],
    ['https://tt.corp.example.com/team-a', true],
    ['https://tt.corp.example.com/team-ab', false],
    ['https://tt.corp.example.com/', false],
  ])('Truetask URL %s allowed: %s', (url, allowed) => {
    expect(truetaskUrlAllowed(url, ['https://truetask.corp.example.com', 'https://tt.corp.example.com/team-a'])).toBe(allowed);
  });

  it('checks every DC of the spec, failover included, and says which field', () => {
    const policy = parseEndpointPolicy('10.0.10.0/24', 'https://truetask.corp.example.com');
    const spec = { ldap: { url: 'ldaps://10.0.10.14:636', failover: [{ url: 'ldaps://10.0.10.15' }, { url: 'ldaps://attacker.example:636' }] }, truetask: { url: 'https://truetask.corp.example.com' } };
    const err = (() => {
      try {
        checkEndpoints(spec, policy);
      } catch (e) {
        return e;
      }
    })();
    expect(isAdSyncError(err) && err.reason).toBe('EndpointNotAllowed');
    expect(isAdSyncError(err) && err.next).toBe('fix-config');
    expect((err as Error).message).toBe('spec.ldap.failover[1].url: ldaps://attacker.example:636 is not a domain controller this operator may connect to (allowed: 10.0.10.0/24)');
    expect(() => checkEndpoints({ ...spec, ldap: { url: spec.ldap.url, failover: [] } }, policy)).not.toThrow();
  });

  it.each([
    ['10.0.10.0/33', ''],
    ['dc1 corp', ''],
    ['', 'truetask.corp.example.com'],
    ['', 'ftp://truetask'],
  ])('refuses a bad flag value (%s / %s)', (h, u) => {
    expect(() => parseEndpointPolicy(h, u)).toThrow(/--allowed-(ldap-hosts|truetask-urls): /);
  });
});

describe('Secret access annotation', () => {
  it('reads comma-separated names and *', () => {
    expect(allowedAdSyncs({ 'truetask.io/adsync-access': ' corp, hr-sync ,' })).toEqual({ all: false, names: new Set(['corp', 'hr-sync']) });
    expect(allowedAdSyncs({ 'truetask.io/adsync-access': '*' })?.all).toBe(true);
    expect(allowedAdSyncs({})).toBeUndefined();
  });

  it.each([
    [{ 'truetask.io/adsync-access': 'corp' }, true],
    [{ 'truetask.io/adsync-access': 'hr, corp' }, true],
    [{ 'truetask.io/adsync-access': '*' }, true],
    [{ 'truetask.io/adsync-access': 'corporate' }, false],
    [{ 'truetask.io/adsync-access': '' }, false],
    [undefined, false],
  ])('a Secret annotated %j is opened to AdSync "corp": %s', (annotations, open) => {
    const check = secretAccessCheck({ namespace: 'truetask', name: 'corp' });
    const run = () => check({ namespace: 'truetask', name: 'ad-bind', annotations });
    if (open) expect(run).not.toThrow();
    else expect(run).toThrow(/^Secret truetask\/ad-bind is not opened to AdSync truetask\/corp: /);
  });
});
