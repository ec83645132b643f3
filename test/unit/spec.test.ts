import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adSyncSpecSchema, DEFAULT_USER_FILTER } from '../../src/api/spec.ts';
import { parseInterval } from '../../src/api/interval.ts';
import { adSyncCrd, renderCrdYaml } from '../../src/api/crd.ts';
import { FAILOVER_PLAINTEXT_MESSAGE, LDAP_PLAINTEXT_MESSAGE, TRUETASK_PLAINTEXT_MESSAGE } from '../../src/api/rules.ts';
import { plaintextTransports } from '../../src/config/transport-policy.ts';
import { DN_MESSAGE, GROUP_CONTROL_MESSAGE, GROUP_REF_MESSAGE, USER_FILTER_MESSAGE, rulesHold } from '../../src/api/rules.ts';
import { escapeDnValue, hasDnShape, parseDn } from '../../src/ldap/dn.ts';
import { parseFilter } from '../../src/ldap/filter.ts';

const minimal = {
  ldap: { url: 'ldaps://10.0.10.14:636', baseDN: 'DC=corp,DC=example,DC=com', bindDN: 'svc@corp.example.com', bindPasswordSecretRef: { name: 'ad-bind' } },
  truetask: { url: 'https://truetask.corp.example.com', tokenSecretRef: { name: 'truetask-api' } },
};

function issues(spec: unknown): string[] {
  const r = adSyncSpecSchema.safeParse(spec);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('AdSync spec schema', () => {
  it('fills the documented defaults', () => {
    const spec = adSyncSpecSchema.parse(minimal);
    expect(spec).toMatchObject({
      mode: 'Preview',
      interval: '6h',
      timeout: '15m',
      suspend: false,
      emailAttribute: 'userPrincipalName',
      userFilter: DEFAULT_USER_FILTER,
      excludedOUs: [],
      ldap: { startTLS: false, timeoutSeconds: 30, pageSize: 500, bindPasswordSecretRef: { name: 'ad-bind', key: 'password' } },
      truetask: { timeoutSeconds: 30, tokenSecretRef: { key: 'token' } },
    });
  });

  it.each([
    ['a bad URL scheme', { ...minimal, ldap: { ...minimal.ldap, url: 'http://dc1' } }, /ldap.url: must be ldap:\/\/HOST/],
    ['startTLS with ldaps', { ...minimal, ldap: { ...minimal.ldap, startTLS: true } }, /startTLS: true needs an ldap:\/\/ URL/],
    ['promotion with no groups', { ...minimal, adminPromotion: { enabled: true } }, /adminPromotion.groups is empty/],
    ['page size 0', { ...minimal, ldap: { ...minimal.ldap, pageSize: 0 } }, /ldap.pageSize/],
    ['page size 1001', { ...minimal, ldap: { ...minimal.ldap, pageSize: 1001 } }, /ldap.pageSize/],
    ['an unknown email attribute', { ...minimal, emailAttribute: 'email' }, /emailAttribute/],
    ['a bad interval', { ...minimal, interval: 'daily' }, /interval: must be "manual" or a duration/],
    ['a timeout that is not a duration', { ...minimal, timeout: 'forever' }, /timeout: must be a duration/],
    ['a timeout under 10s', { ...minimal, timeout: '5s' }, /timeout must be a duration from 10s to 24h/],
    ['a timeout over 24h', { ...minimal, timeout: '25h' }, /timeout must be a duration from 10s to 24h/],
    ['an interval under a minute', { ...minimal, interval: '30s' }, /at least 1m/],
    ['tls on plain ldap', { ...minimal, ldap: { ...minimal.ldap, url: 'ldap://dc1:389', tls: { insecureSkipVerify: true } } }, /tls settings apply only to encrypted/],
    ['startTLS with an ldaps:// failover DC', { ...minimal, ldap: { ...minimal.ldap, url: 'ldap://dc1:389', startTLS: true, failover: [{ url: 'ldaps://dc2:636' }] } }, /startTLS: true needs ldap:\/\/ URLs in failover too/],
    ['a failover URL that is not LDAP', { ...minimal, ldap: { ...minimal.ldap, failover: [{ url: 'https://dc2' }] } }, /ldap.failover.0.url: must be ldap:\/\/HOST/],
    ['a failover serverName that is not a DNS name', { ...minimal, ldap: { ...minimal.ldap, failover: [{ url: 'ldaps://10.0.10.15', serverName: 'dc2 corp' }] } }, /failover.0.serverName: must be a DNS name/],
    ['a filter without parentheses', { ...minimal, userFilter: 'objectClass=user' }, /userFilter/],
    ['a Secret name that is not one', { ...minimal, truetask: { ...minimal.truetask, tokenSecretRef: { name: 'Bad_Name' } } }, /tokenSecretRef.name/],
  ])('refuses %s with a message saying what to fix', (_what, spec, message) => {
    const found = issues(spec);
    expect(found.join('\n')).toMatch(message);
  });

  describe('clear text only on purpose', () => {
    const plainLdap = { ...minimal.ldap, url: 'ldap://10.0.10.14:389' };
    it.each([
      ['ldap:// without startTLS', { ...minimal, ldap: plainLdap }, `ldap.url: ${LDAP_PLAINTEXT_MESSAGE}`],
      ['an ldap:// failover DC behind an ldaps:// primary', { ...minimal, ldap: { ...minimal.ldap, failover: [{ url: 'ldaps://10.0.10.15:636' }, { url: 'ldap://10.0.10.16:389' }] } }, `ldap.failover: ${FAILOVER_PLAINTEXT_MESSAGE}`],
      ['an http:// Truetask URL', { ...minimal, truetask: { ...minimal.truetask, url: 'http://truetask.corp.example.com' } }, `truetask.url: ${TRUETASK_PLAINTEXT_MESSAGE}`],
    ])('refuses %s, naming the fix', (_what, spec, message) => {
      expect(issues(spec)).toEqual([message]);
      expect(message).toMatch(/ldaps:\/\/HOST:636|https:\/\//);
    });

    it.each([
      ['ldap:// with startTLS', { ...minimal, ldap: { ...plainLdap, startTLS: true, failover: [{ url: 'ldap://10.0.10.15:389' }] } }, []],
      ['ldap:// with insecurePlaintext', { ...minimal, ldap: { ...plainLdap, insecurePlaintext: true } }, ['ldap']],
      ['an ldap:// failover DC with insecurePlaintext', { ...minimal, ldap: { ...minimal.ldap, insecurePlaintext: true, failover: [{ url: 'ldap://10.0.10.15:389' }] } }, ['ldap']],
      ['http:// with insecurePlaintext', { ...minimal, truetask: { ...minimal.truetask, url: 'http://127.0.0.1:8080', insecurePlaintext: true } }, ['truetask']],
      ['insecurePlaintext with TLS anyway (nothing in clear text)', { ...minimal, ldap: { ...minimal.ldap, insecurePlaintext: true }, truetask: { ...minimal.truetask, insecurePlaintext: true } }, []],
    ])('accepts %s and says what is in clear text', (_what, spec, plaintext) => {
      expect(issues(spec)).toEqual([]);
      expect(plaintextTransports(adSyncSpecSchema.parse(spec))).toEqual(plaintext);
    });
  });

  it('refuses the filter of the issue with the admission message and where it breaks', () => {
    const broken =
      '(&(objectCategory=person)(objectClass=user)(|(userPrincipalName=alan.turing@corp.example.com)(userPrincipalName=ken.thompson@corp.example.com)';
    expect(issues({ ...minimal, userFilter: broken })).toEqual([
      `userFilter: ${USER_FILTER_MESSAGE}: 2 closing ")" missing at the end (position 143): "…cipalName=ken.thompson@corp.example.com)»"; the "(" at positions 1 and 44 are never closed`,
    ]);
  });

  it.each([
    ['two filters side by side', '(objectClass=user)(cn=*)', /^userFilter: userFilter is not a valid LDAP filter \(RFC 4515\): text after the end of the filter \(position 19\)/],
    ['a parenthesis in a value, balanced', '(cn=Smith (IT))', /^userFilter: userFilter is not a valid LDAP filter \(RFC 4515\): unescaped "\(" in a value \(position 11\)/],
    ['a space between filters', '(& (a=1))', /^userFilter: userFilter is not a valid LDAP filter \(RFC 4515\): unexpected space/],
  ])('refuses %s only after admission (CEL cannot parse), saying where', (_what, userFilter, message) => {
    expect(rulesHold('userFilter', userFilter)).toBe(true);
    expect(issues({ ...minimal, userFilter }).join('\n')).toMatch(message);
  });

  it.each([
    ['an unbalanced filter', '(&(a=1)(b=2)'],
    ['a filter with one ")" too many', '(&(a=1)(b=2)))'],
    ['a filter without parentheses', 'objectClass=user'],
  ])('refuses %s with the admission message first', (_what, userFilter) => {
    expect(rulesHold('userFilter', userFilter)).toBe(false);
    expect(issues({ ...minimal, userFilter })[0]).toMatch(new RegExp(`^userFilter: ${USER_FILTER_MESSAGE.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}: .*\\(position \\d+\\)`));
  });

  it('accepts escaped parentheses, * and \\ in values, and non-ASCII; refuses a NUL, which a directory may cut the value at', () => {
    expect(issues({ ...minimal, userFilter: '(|(cn=Smith \\28IT\\29)(cn=Ops\\2aAdmins)(cn=Back\\5cslash)(cn=José)(cn=Jos\\c3\\a9))' })).toEqual([]);
    expect(issues({ ...minimal, userFilter: '(|(cn=a)(cn=mary.jackson\\00))' }).join('\n')).toMatch(/^userFilter: userFilter is not a valid LDAP filter \(RFC 4515\): a NUL character \(\\00\) in a value \(position 25\)/);
  });

  it.each([
    ['spec.ldap.baseDN', { ...minimal, ldap: { ...minimal.ldap, baseDN: 'corp.example.com' } }, `ldap.baseDN: ${DN_MESSAGE}`],
    ['an excludedOUs entry', { ...minimal, excludedOUs: ['OU=Service Accounts,DC=corp,DC=example,DC=com', 'OU=Staff,DC=corp,'] }, `excludedOUs.1: ${DN_MESSAGE}`],
    ['an unescaped "<" in an excludedOUs value', { ...minimal, excludedOUs: ['OU=a<b,DC=corp'] }, `excludedOUs.0: ${DN_MESSAGE}`],
    ['an admin group given as a broken DN', { ...minimal, adminPromotion: { enabled: true, groups: ['Admin', 'CN=IT-Admins,OU=Groups,DC=corp,'] } }, `adminPromotion.groups.1: ${GROUP_REF_MESSAGE}`],
    ['an admin group name with a NUL', { ...minimal, adminPromotion: { enabled: true, groups: ['Admin\0'] } }, `adminPromotion.groups.0: ${GROUP_CONTROL_MESSAGE}`],
  ])('refuses %s, with the admission message', (_what, spec, message) => {
    expect(issues(spec)).toEqual([message]);
  });

  it('accepts DNs with escapes, spaces and non-ASCII, and admin groups given by name', () => {
    expect(
      issues({
        ...minimal,
        excludedOUs: ['ou=service accounts, dc=corp,dc=example,dc=com', 'CN=Smith\\, John,OU=Sales,DC=corp', 'OU=Équipe\\2C Paris+L=FR,DC=corp', 'CN=\\#1,DC=corp'],
        adminPromotion: { enabled: true, groups: ['Admin', 'IT Admins (EU)*', 'Back\\slash', 'CN=IT-Admins,OU=Groups,DC=corp,DC=example,DC=com'] },
      }),
    ).toEqual([]);
  });

  it('whatever the DN rule (CEL) accepts, the DN parser accepts; every DN the parser formats, the rule accepts', () => {
    const chars = fc.constantFrom('a', 'Z', '0', ' ', ',', '+', ';', '=', '\\', '"', '#', '<', '>', 'é', '2', 'C', 'f');
    fc.assert(
      fc.property(fc.string({ unit: chars, maxLength: 24 }), (s) => {
        if (hasDnShape(s)) expect(() => parseDn(s)).not.toThrow();
      }),
      { numRuns: 3000 },
    );
    const value = fc.string({ unit: fc.oneof(chars, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 12 }).filter((v) => v.trim() !== '');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('CN', 'OU', 'DC', 'L'), value), { minLength: 1, maxLength: 5 }), (rdns) => {
        const dn = rdns.map(([t, v]) => `${t}=${escapeDnValue(v)}`).join(',');
        expect(hasDnShape(dn), dn).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('the admission rule for userFilter holds for every filter that parses (CEL never refuses a valid filter)', () => {
    const item = fc.tuple(fc.constantFrom('cn', 'mail', 'memberOf'), fc.string({ unit: fc.constantFrom('a', '(', ')', '*', '\\', 'é'), maxLength: 6 }));
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 4 }), fc.constantFrom('&', '|'), (items, op) => {
        const text = `(${op}${items.map(([a, v]) => `(${a}=${v.replace(/[()*\\]/g, (c) => `\\${c.charCodeAt(0).toString(16)}`)})`).join('')})`;
        expect(() => parseFilter(text)).not.toThrow();
        expect(rulesHold('userFilter', text)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it.each(['manual', '1m', '90m', '1h', '6h', '12h', '1h30m'])('accepts interval %s', (interval) => {
    expect(issues({ ...minimal, interval })).toEqual([]);
  });

  it('parses intervals to seconds', () => {
    expect(parseInterval('1h30m')).toBe(5400);
    expect(parseInterval('manual')).toBe('manual');
    expect(parseInterval('x')).toBeUndefined();
  });
});

describe('generated CRD', () => {
  it('matches the committed crds/ file (run `npm run manifests` after changing src/api)', async () => {
    const committed = await readFile(new URL('../../crds/truetask.io_adsyncs.yaml', import.meta.url), 'utf8');
    expect(committed).toBe(renderCrdYaml());
  });

  it('describes every spec and status field, for kubectl explain', () => {
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(props ?? {})) {
        if (typeof v.description !== 'string') missing.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
        if (v.items && typeof v.items === 'object') walk(v.items as Record<string, unknown>, `${path}.${k}[]`);
      }
    };
    const crd = adSyncCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: Record<string, unknown>; status: Record<string, unknown> } } } }> } };
    const root = crd.spec.versions[0]!.schema.openAPIV3Schema.properties;
    walk(root.spec, 'spec');
    walk(root.status, 'status');
    expect(missing).toEqual([]);
    // the walk reaches the nested status fields (a walk that stops early would find nothing missing)
    const lastSync = ((root.status.properties as Record<string, Record<string, unknown>>).lastSync!.properties as Record<string, { description?: string }>);
    expect(lastSync.result?.description).toMatch(/PartiallyFailed/);
  });
});

describe('examples', () => {
  it.each(['examples/adsync.yaml', 'examples/adsync-all-fields.yaml'])('%s is a valid AdSync', async (path) => {
    const { parseInputText } = await import('../../src/cli/input.ts');
    const text = await readFile(new URL(`../../${path}`, import.meta.url), 'utf8');
    const input = parseInputText(text, path);
    expect(input.adsync.metadata.name).toBe('corp');
  });
});
