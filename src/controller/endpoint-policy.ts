/**
 * Operator-level allow-lists of where AdSyncs may send credentials (opt-in,
 * `adsync controller --allowed-ldap-hosts` / `--allowed-truetask-urls`). Checked
 * before any Secret is read or any connection opened: an AdSync pointing elsewhere
 * stalls with EndpointNotAllowed. An empty list allows any endpoint (the default).
 *
 * LDAP hosts: a host name (`dc1.corp.example.com`, case-insensitive), a wildcard for
 * any host below a domain (`*.corp.example.com`), an IP address, or a CIDR range
 * (`10.0.10.0/24`); every DC of the spec (url and each failover) must match.
 * Truetask URLs: a URL prefix (`https://truetask.corp.example.com`): same scheme,
 * host and port, and a path at or below the prefix's path.
 */
import { BlockList, isIP } from 'node:net';
import { configError } from '../errors.ts';

export interface EndpointPolicy {
  ldapHosts: readonly string[];
  truetaskUrls: readonly string[];
}

export const openEndpointPolicy: EndpointPolicy = { ldapHosts: [], truetaskUrls: [] };

/** Refuses a bad allow-list entry at start-up (the controller exits 2 with the message). */
export function parseEndpointPolicy(ldapHosts: string, truetaskUrls: string): EndpointPolicy {
  const split = (s: string) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const policy = { ldapHosts: split(ldapHosts), truetaskUrls: split(truetaskUrls) };
  for (const h of policy.ldapHosts) {
    if (h.includes('/')) {
      const [ip, bits] = h.split('/');
      const family = isIP(ip ?? '');
      const max = family === 4 ? 32 : 128;
      if (!family || !/^[0-9]+$/.test(bits ?? '') || Number(bits) > max) throw new Error(`--allowed-ldap-hosts: "${h}" is not a CIDR range such as 10.0.10.0/24`);
    } else if (!/^(\*\.)?[a-zA-Z0-9.:-]+$/.test(h)) {
      throw new Error(`--allowed-ldap-hosts: "${h}" is not a host name, *.domain, IP address or CIDR range`);
    }
  }
  for (const u of policy.truetaskUrls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new Error(`--allowed-truetask-urls: "${u}" is not a URL such as https://truetask.corp.example.com`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`--allowed-truetask-urls: "${u}" must be an http(s) URL`);
  }
  return policy;
}

function hostOf(url: string): string {
  return new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

export function ldapHostAllowed(host: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const family = isIP(host);
  for (const entry of allowed) {
    const e = entry.toLowerCase();
    if (e.includes('/')) {
      if (!family) continue;
      const [net, bits] = e.split('/') as [string, string];
      const netFamily = isIP(net) === 6 ? 'ipv6' : 'ipv4';
      const list = new BlockList();
      list.addSubnet(net, Number(bits), netFamily);
      if (list.check(host, family === 6 ? 'ipv6' : 'ipv4')) return true;
    } else if (e.startsWith('*.')) {
      if (!family && host.endsWith(e.slice(1))) return true;
    } else if (host === e) return true;
  }
  return false;
}

export function truetaskUrlAllowed(raw: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const url = new URL(raw);
  const path = url.pathname.replace(/\/+$/, '');
  return allowed.some((a) => {
    const p = new URL(a);
    const prefix = p.pathname.replace(/\/+$/, '');
    return p.protocol === url.protocol && p.host.toLowerCase() === url.host.toLowerCase() && (path === prefix || path.startsWith(`${prefix}/`));
  });
}

/** Throws EndpointNotAllowed (a person must act) when a DC or the Truetask URL is outside the operator's allow-lists. */
export function checkEndpoints(spec: { ldap: { url: string; failover?: ReadonlyArray<{ url: string }> | undefined }; truetask: { url: string } }, policy: EndpointPolicy): void {
  for (const [field, url] of [['spec.ldap.url', spec.ldap.url] as const, ...(spec.ldap.failover ?? []).map((f, i) => [`spec.ldap.failover[${i}].url`, f.url] as const)]) {
    if (!ldapHostAllowed(hostOf(url), policy.ldapHosts)) {
      throw configError('EndpointNotAllowed', `${field}: ${url} is not a domain controller this operator may connect to (allowed: ${policy.ldapHosts.join(', ')})`, {
        hint: 'Use one of the allowed domain controllers, or ask the platform team to add this one to the operator\'s --allowed-ldap-hosts (chart value allowedEndpoints.ldapHosts)',
      });
    }
  }
  if (!truetaskUrlAllowed(spec.truetask.url, policy.truetaskUrls)) {
    throw configError('EndpointNotAllowed', `spec.truetask.url: ${spec.truetask.url} is not a Truetask this operator may send a token to (allowed: ${policy.truetaskUrls.join(', ')})`, {
      hint: 'Use the allowed Truetask URL, or ask the platform team to add this one to the operator\'s --allowed-truetask-urls (chart value allowedEndpoints.truetaskUrls)',
    });
  }
}
