// Builds AdSync objects and their Secrets for tests, pointed at the test Samba AD
// and a Truetask simulator.
import { stringify } from 'yaml';
import type { SambaADInfo } from './samba.ts';

export const TOKEN = 'tt-test-token-0123456789abcdef';
export const TOKEN_NAME = 'adsync-tests';

export interface ScenarioOptions {
  ad: SambaADInfo;
  truetaskUrl: string;
  namespace?: string;
  name?: string;
  mode?: 'Preview' | 'Sync';
  spec?: Record<string, unknown>;
  ldap?: Record<string, unknown>;
  bindPassword?: string;
  token?: string;
}

export function adsyncObject(o: ScenarioOptions): Record<string, unknown> {
  const ldap = {
    url: o.ad.ldapsUrl,
    baseDN: o.ad.baseDN,
    bindDN: o.ad.bindUPN,
    bindPasswordSecretRef: { name: 'ad-bind' },
    tls: { caSecretRef: { name: 'ad-ca' }, serverName: o.ad.dcHostname },
    pageSize: 100,
    timeoutSeconds: 10,
    ...o.ldap,
  };
  const spec: Record<string, unknown> = {
    ldap,
    excludedOUs: [`OU=Service Accounts,${o.ad.baseDN}`],
    adminPromotion: { enabled: true, groups: [`CN=IT-Admins,OU=Groups,${o.ad.baseDN}`, 'Admin'], nested: true },
    truetask: { url: o.truetaskUrl, tokenSecretRef: { name: 'truetask-api' }, timeoutSeconds: 10 },
    mode: o.mode ?? 'Preview',
    interval: 'manual',
    // The create safeguard is off, explicitly, for tests about something else: the fixture's first sync
    // creates 267 users, which the defaults hold for approval (test/kube/approval.test.ts tests them).
    safeguard: { maxCreates: 0, maxGrowthPercent: 0 },
    ...o.spec,
  };
  // The simulator serves http://: tests opt into clear text as a user must, also with a spec.truetask of their own.
  const truetask = spec.truetask as Record<string, unknown>;
  if (String(truetask.url).startsWith('http://') && truetask.insecurePlaintext === undefined) spec.truetask = { ...truetask, insecurePlaintext: true };
  return {
    apiVersion: 'truetask.io/v1alpha1',
    kind: 'AdSync',
    metadata: { name: o.name ?? 'corp', ...(o.namespace ? { namespace: o.namespace } : {}) },
    spec,
  };
}

export function secretObjects(o: ScenarioOptions): Array<Record<string, unknown>> {
  const meta = (name: string) => ({ name, ...(o.namespace ? { namespace: o.namespace } : {}) });
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('ad-bind'), stringData: { password: o.bindPassword ?? o.ad.bindPassword } },
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('ad-ca'), stringData: { 'ca.crt': o.ad.caPem } },
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('truetask-api'), stringData: { token: o.token ?? TOKEN } },
  ];
}

/** The CLI's -f file: the AdSync and its Secrets as one YAML stream. */
export function scenarioYaml(o: ScenarioOptions, withSecrets = true): string {
  const docs = [adsyncObject(o), ...(withSecrets ? secretObjects(o) : [])];
  return docs.map((d) => stringify(d)).join('---\n');
}
