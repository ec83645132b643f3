import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { adSyncSpecSchema, DEFAULT_USER_FILTER } from '../../src/api/spec.ts';
import { parseInterval } from '../../src/api/interval.ts';
import { adSyncCrd, renderCrdYaml } from '../../src/api/crd.ts';

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
    ['an interval under a minute', { ...minimal, interval: '30s' }, /at least 1m/],
    ['tls on plain ldap', { ...minimal, ldap: { ...minimal.ldap, url: 'ldap://dc1:389', tls: { insecureSkipVerify: true } } }, /tls settings apply only to encrypted/],
    ['a filter without parentheses', { ...minimal, userFilter: 'objectClass=user' }, /userFilter/],
    ['a Secret name that is not one', { ...minimal, truetask: { ...minimal.truetask, tokenSecretRef: { name: 'Bad_Name' } } }, /tokenSecretRef.name/],
  ])('refuses %s with a message saying what to fix', (_what, spec, message) => {
    const found = issues(spec);
    expect(found.join('\n')).toMatch(message);
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

  it('describes every spec field, for kubectl explain', () => {
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(props ?? {})) {
        if (typeof v.description !== 'string') missing.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
        if (v.items && typeof v.items === 'object') walk(v.items as Record<string, unknown>, `${path}.${k}[]`);
      }
    };
    const crd = adSyncCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: Record<string, unknown> } } } }> } };
    walk(crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec, 'spec');
    expect(missing).toEqual([]);
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
