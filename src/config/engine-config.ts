/**
 * Turns an AdSync (spec already validated) and its Secrets into the engine's
 * configuration. Secret values live only in the returned object.
 */
import type { AdSync } from '../api/adsync.ts';
import { configError } from '../errors.ts';
import { DnSyntaxError, parseDn, type Dn } from '../ldap/dn.ts';
import { FilterSyntaxError, parseFilter, type Filter } from '../ldap/filter.ts';
import type { ReadConfig } from '../ldap/reader.ts';
import type { LdapConnectionConfig } from '../ldap/session.ts';
import { readCaBundle, readSecretKey, type SecretSource } from './secrets.ts';
import { assertLdapTransport, assertTruetaskTransport } from './transport-policy.ts';

export interface TruetaskConfig {
  url: string;
  token: string;
  ca?: string;
  insecureSkipVerify: boolean;
  /** spec.truetask.insecurePlaintext: an http:// URL is allowed. */
  insecurePlaintext?: boolean;
  timeoutSeconds: number;
}

export interface EngineConfig {
  ldap: LdapConnectionConfig;
  read: ReadConfig;
  excludedOUs: Dn[];
  truetask: TruetaskConfig;
  /** Insecure TLS opt-outs in force, for the InsecureTLS warning. */
  insecure: Array<'ldap' | 'truetask'>;
}

export function parseSpecDns(adsync: AdSync): Dn[] {
  const spec = adsync.spec;
  try {
    parseDn(spec.ldap.baseDN);
  } catch (err) {
    throw configError('InvalidSpec', `spec.ldap.baseDN: ${(err as Error).message}`);
  }
  return spec.excludedOUs.map((ou, i) => {
    try {
      return parseDn(ou);
    } catch (err) {
      if (err instanceof DnSyntaxError) throw configError('InvalidSpec', `spec.excludedOUs[${i}]: ${err.message}`);
      throw err;
    }
  });
}

/** spec.userFilter as a Filter. The schema already refused a filter that does not parse; this keeps the engine safe on its own. */
export function parseSpecUserFilter(adsync: AdSync): Filter {
  try {
    return parseFilter(adsync.spec.userFilter);
  } catch (err) {
    if (err instanceof FilterSyntaxError) throw configError('InvalidSpec', `spec.userFilter is not a valid LDAP filter (RFC 4515): ${err.message}`);
    throw err;
  }
}

export interface DirectoryConfig {
  ldap: LdapConnectionConfig;
  read: ReadConfig;
  excludedOUs: Dn[];
  insecure: boolean;
}

function namespaceOf(adsync: AdSync): string {
  return adsync.metadata.namespace ?? 'default';
}

/** What reading AD needs (Test Connection, Discover, and every run). */
export async function resolveDirectoryConfig(adsync: AdSync, secrets: SecretSource): Promise<DirectoryConfig> {
  const spec = adsync.spec;
  const ns = namespaceOf(adsync);
  const excludedOUs = parseSpecDns(adsync);
  const userFilter = parseSpecUserFilter(adsync);
  // Before any Secret is read: a clear-text DC without the opt-in never gets the password.
  assertLdapTransport(spec.ldap);
  const bindPassword = await readSecretKey(secrets, ns, spec.ldap.bindPasswordSecretRef, 'LDAP bind password');
  const ca = spec.ldap.tls?.caSecretRef ? await readCaBundle(secrets, ns, spec.ldap.tls.caSecretRef, 'LDAP CA bundle') : undefined;
  return {
    ldap: {
      url: spec.ldap.url,
      bindDN: spec.ldap.bindDN,
      bindPassword,
      startTLS: spec.ldap.startTLS,
      insecurePlaintext: spec.ldap.insecurePlaintext,
      tls: { ca, serverName: spec.ldap.tls?.serverName, insecureSkipVerify: spec.ldap.tls?.insecureSkipVerify ?? false },
      timeoutSeconds: spec.ldap.timeoutSeconds,
      ...(spec.ldap.failover?.length ? { failover: spec.ldap.failover.map((f) => ({ url: f.url, serverName: f.serverName })) } : {}),
    },
    read: {
      baseDN: spec.ldap.baseDN,
      pageSize: spec.ldap.pageSize,
      userFilter,
      emailAttribute: spec.emailAttribute,
      adminPromotion: spec.adminPromotion ?? { enabled: false, groups: [], nested: true },
    },
    excludedOUs,
    insecure: spec.ldap.tls?.insecureSkipVerify ?? false,
  };
}

export async function resolveTruetaskConfig(adsync: AdSync, secrets: SecretSource): Promise<TruetaskConfig> {
  const spec = adsync.spec;
  const ns = namespaceOf(adsync);
  assertTruetaskTransport(spec.truetask);
  const token = await readSecretKey(secrets, ns, spec.truetask.tokenSecretRef, 'Truetask API token');
  const ca = spec.truetask.tls?.caSecretRef ? await readCaBundle(secrets, ns, spec.truetask.tls.caSecretRef, 'Truetask CA bundle') : undefined;
  return {
    url: spec.truetask.url,
    token,
    ...(ca ? { ca } : {}),
    insecureSkipVerify: spec.truetask.tls?.insecureSkipVerify ?? false,
    insecurePlaintext: spec.truetask.insecurePlaintext,
    timeoutSeconds: spec.truetask.timeoutSeconds,
  };
}

export async function resolveEngineConfig(adsync: AdSync, secrets: SecretSource): Promise<EngineConfig> {
  const directory = await resolveDirectoryConfig(adsync, secrets);
  const truetask = await resolveTruetaskConfig(adsync, secrets);
  const insecure: EngineConfig['insecure'] = [];
  if (directory.insecure) insecure.push('ldap');
  if (truetask.insecureSkipVerify) insecure.push('truetask');
  return { ldap: directory.ldap, read: directory.read, excludedOUs: directory.excludedOUs, truetask, insecure };
}
