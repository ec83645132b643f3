/**
 * Clear text only on purpose. Admission (CEL) and zod refuse an ldap:// URL
 * without startTLS (the primary DC or any failover DC) and an http:// Truetask
 * URL unless spec.ldap.insecurePlaintext / spec.truetask.insecurePlaintext is
 * true (src/api/rules.ts). This module is the same rule at run time, for what
 * reaches the engine without passing through either (a config built by hand, an
 * object stored before the rule existed): checked before any socket is opened.
 * It also says which clear-text transports a spec uses, for the warnings.
 */
import { FAILOVER_PLAINTEXT_MESSAGE, LDAP_PLAINTEXT_MESSAGE, TRUETASK_PLAINTEXT_MESSAGE } from '../api/rules.ts';
import type { AdSyncSpec } from '../api/spec.ts';
import { configError } from '../errors.ts';

export type TransportKind = 'ldap' | 'truetask';

export interface LdapTransport {
  url: string;
  startTLS: boolean;
  insecurePlaintext?: boolean | undefined;
  failover?: ReadonlyArray<{ url: string }> | undefined;
}

const isPlainLdap = (url: string): boolean => url.toLowerCase().startsWith('ldap://');
const isPlainHttp = (url: string): boolean => url.toLowerCase().startsWith('http://');

/** True when some DC would be reached in clear text (ldap:// without StartTLS). */
export function ldapIsPlaintext(cfg: LdapTransport): boolean {
  if (cfg.startTLS) return false;
  return isPlainLdap(cfg.url) || (cfg.failover ?? []).some((f) => isPlainLdap(f.url));
}

/** Throws InvalidSpec (before any connection) when a DC would get the bind password in clear text without the opt-in. */
export function assertLdapTransport(cfg: LdapTransport): void {
  if (cfg.startTLS || cfg.insecurePlaintext === true) return;
  if (isPlainLdap(cfg.url)) throw configError('InvalidSpec', `spec.ldap.url: ${LDAP_PLAINTEXT_MESSAGE}`);
  if ((cfg.failover ?? []).some((f) => isPlainLdap(f.url))) throw configError('InvalidSpec', `spec.ldap.failover: ${FAILOVER_PLAINTEXT_MESSAGE}`);
}

/** Throws InvalidSpec (before any request) when the token would cross in clear text without the opt-in. */
export function assertTruetaskTransport(cfg: { url: string; insecurePlaintext?: boolean | undefined }): void {
  if (isPlainHttp(cfg.url) && cfg.insecurePlaintext !== true) throw configError('InvalidSpec', `spec.truetask.url: ${TRUETASK_PLAINTEXT_MESSAGE}`);
}

/** The clear-text transports a (valid) spec uses: each needed its opt-in and is warned about at every run. */
export function plaintextTransports(spec: Pick<AdSyncSpec, 'ldap' | 'truetask'>): TransportKind[] {
  const out: TransportKind[] = [];
  if (ldapIsPlaintext(spec.ldap)) out.push('ldap');
  if (isPlainHttp(spec.truetask.url)) out.push('truetask');
  return out;
}

/** The warning for one clear-text transport (event message, CLI line, log). */
export function plaintextWarning(kind: TransportKind): string {
  return kind === 'ldap'
    ? 'the bind password and directory data are sent to the domain controller in clear text (ldap:// without startTLS; spec.ldap.insecurePlaintext: true): use ldaps://HOST:636 or startTLS: true'
    : 'the Truetask API token and generated passwords are sent in clear text (an http:// URL; spec.truetask.insecurePlaintext: true): use an https:// URL';
}
