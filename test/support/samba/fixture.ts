// The corp directory fixture (test/fixtures/corp-directory.yaml): loaded, validated, made absolute; DNs through src/ldap/dn.ts.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { leafValue, parseDn } from '../../../src/ldap/dn.ts';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_FIXTURE = join(repoRoot, 'test', 'fixtures', 'corp-directory.yaml');

// ---------------------------------------------------------------------------
// fixture

const fixtureSchema = z.object({
  domain: z.string(),
  netbiosDomain: z.string(),
  baseDN: z.string(),
  dcHostname: z.string(),
  administratorPassword: z.string(),
  bindAccount: z.string(),
  organizationalUnits: z.array(z.string()),
  users: z.array(
    z.object({
      dn: z.string(),
      sAMAccountName: z.string(),
      userPrincipalName: z.string().optional(),
      mail: z.string().optional(),
      givenName: z.string().optional(),
      sn: z.string().optional(),
      displayName: z.string().optional(),
      title: z.string().optional(),
      description: z.string().optional(),
      userAccountControl: z.number().int().default(512),
      pwdLastSet: z.literal(0).optional(),
      locked: z.boolean().default(false),
      password: z.string().optional(),
    }).strict(),
  ),
  computers: z.array(z.object({ dn: z.string(), sAMAccountName: z.string() }).strict()).default([]),
  contacts: z.array(z.object({ dn: z.string(), mail: z.string().optional(), displayName: z.string().optional() }).strict()).default([]),
  groups: z.array(
    z.object({
      dn: z.string(),
      sAMAccountName: z.string(),
      description: z.string().optional(),
      groupType: z.number().int().default(-2147483646),
      members: z.array(z.string()).default([]),
      /** Accounts made only to be members: CN=<cn> NNNN,<ou>, enabled, without UPN or mail. */
      generatedMembers: z.object({ count: z.number().int().min(1), ou: z.string(), cn: z.string() }).strict().optional(),
    }).strict(),
  ),
  generated: z.object({
    count: z.number().int().min(0),
    ou: z.string(),
    extra: z.object({
      teams: z.number().int().min(1),
      excludedEvery: z.number().int().min(2),
      excludedOU: z.string(),
      adminEvery: z.number().int().min(2),
      adminGroup: z.string(),
    }).strict(),
  }).strict(),
}).strict();

export interface FixtureUser {
  /** Full DN as AD stores it (RFC 4514 escapes kept). */
  dn: string;
  /** The RDN value, unescaped ("Smith, John"). */
  cn: string;
  sAMAccountName: string;
  userPrincipalName?: string;
  mail?: string;
  givenName?: string;
  sn?: string;
  displayName?: string;
  title?: string;
  description?: string;
  userAccountControl: number;
  pwdLastSet?: 0;
  locked: boolean;
  password?: string;
  generated: boolean;
}

export interface FixtureGroup {
  dn: string;
  cn: string;
  sAMAccountName: string;
  description?: string;
  groupType: number;
  /** Full DNs of direct members (users or groups). */
  members: string[];
}

export interface CorpFixture {
  path: string;
  domain: string;
  realm: string;
  netbiosDomain: string;
  baseDN: string;
  /** FQDN of the DC (the certificate's name). */
  dcHostname: string;
  administratorPassword: string;
  bindAccount: FixtureUser;
  /** Full DNs, parents first. */
  organizationalUnits: string[];
  /** Fixture users then generated ones (full DNs): bulk users, then members-only accounts. */
  users: FixtureUser[];
  computers: Array<{ dn: string; sAMAccountName: string }>;
  contacts: Array<{ dn: string; mail?: string; displayName?: string }>;
  groups: FixtureGroup[];
  generated: { count: number; ou: string };
  /** Users Samba creates itself (objectCategory=person, objectClass=user). */
  builtinUsers: Array<{ dn: string; cn: string; sAMAccountName: string; userAccountControl: number }>;
}

/** Parses the fixture (DNs made absolute, generated users expanded). */
export function loadFixture(path: string = DEFAULT_FIXTURE, opts: { extraGeneratedUsers?: number } = {}): CorpFixture {
  const raw = fixtureSchema.parse(parseYaml(readFileSync(path, 'utf8')));
  const base = raw.baseDN;
  const abs = (rel: string) => `${rel},${base}`;
  const users: FixtureUser[] = raw.users.map((u) => ({ ...u, dn: abs(u.dn), cn: firstRdnValue(u.dn), generated: false }));
  const groups: FixtureGroup[] = raw.groups.map((g) => ({ dn: abs(g.dn), cn: firstRdnValue(g.dn), sAMAccountName: g.sAMAccountName, ...(g.description === undefined ? {} : { description: g.description }), groupType: g.groupType, members: g.members.map(abs) }));
  const organizationalUnits = raw.organizationalUnits.map(abs);
  const count = raw.generated.count + (opts.extraGeneratedUsers ?? 0);
  const width = Math.max(4, String(count).length);
  const bulkOu = abs(raw.generated.ou);
  // Benchmarks' extra users: spread over team OUs, some in an excluded OU, some admins.
  const extra = raw.generated.extra;
  const teamWidth = String(extra.teams - 1).length;
  const teamOu = (t: number) => `OU=Team ${String(t).padStart(teamWidth, '0')},${bulkOu}`;
  if (count > raw.generated.count) for (let t = 0; t < extra.teams; t++) organizationalUnits.push(teamOu(t));
  const adminGroup = groups.find((g) => g.dn.toLowerCase() === abs(extra.adminGroup).toLowerCase());
  if (!adminGroup) throw new Error(`fixture ${path}: generated.extra.adminGroup ${extra.adminGroup} is not one of groups`);
  for (let i = 1; i <= count; i++) {
    const n = String(i).padStart(width, '0');
    const sam = `bulk.user${n}`;
    const ou = i <= raw.generated.count ? bulkOu : i % extra.excludedEvery === 0 ? abs(extra.excludedOU) : teamOu(i % extra.teams);
    const dn = `CN=Bulk User ${n},${ou}`;
    if (i > raw.generated.count && i % extra.adminEvery === 1) adminGroup.members.push(dn);
    users.push({
      dn,
      cn: `Bulk User ${n}`,
      sAMAccountName: sam,
      userPrincipalName: `${sam}@${raw.domain}`,
      mail: `${sam}@${raw.domain}`,
      givenName: 'Bulk',
      sn: `User${n}`,
      displayName: `Bulk User ${n}`,
      userAccountControl: 512,
      locked: false,
      generated: true,
    });
  }
  for (const [gi, g] of raw.groups.entries()) {
    const gen = g.generatedMembers;
    const group = groups[gi];
    if (!gen || !group) continue;
    const w = Math.max(4, String(gen.count).length);
    for (let i = 1; i <= gen.count; i++) {
      const n = String(i).padStart(w, '0');
      const dn = `CN=${gen.cn} ${n},${abs(gen.ou)}`;
      group.members.push(dn);
      users.push({ dn, cn: `${gen.cn} ${n}`, sAMAccountName: `${gen.cn.toLowerCase().replace(/[^a-z0-9]+/g, '.')}.${n}`, userAccountControl: 512, locked: false, generated: true });
    }
  }
  const bindAccount = users.find((u) => u.sAMAccountName === raw.bindAccount);
  if (!bindAccount?.password) throw new Error(`fixture ${path}: bindAccount ${raw.bindAccount} must be a user with a password`);
  const usersDN = `CN=Users,${base}`;
  return {
    path,
    domain: raw.domain,
    realm: raw.domain.toUpperCase(),
    netbiosDomain: raw.netbiosDomain,
    baseDN: base,
    dcHostname: `${raw.dcHostname}.${raw.domain}`.toLowerCase(),
    administratorPassword: raw.administratorPassword,
    bindAccount,
    organizationalUnits: organizationalUnits.sort((a, b) => rdnCount(a) - rdnCount(b)),
    users,
    computers: raw.computers.map((c) => ({ ...c, dn: abs(c.dn) })),
    contacts: raw.contacts.map((c) => ({ ...c, dn: abs(c.dn) })),
    groups,
    generated: { count, ou: bulkOu },
    builtinUsers: [
      { dn: `CN=Administrator,${usersDN}`, cn: 'Administrator', sAMAccountName: 'Administrator', userAccountControl: 512 },
      { dn: `CN=Guest,${usersDN}`, cn: 'Guest', sAMAccountName: 'Guest', userAccountControl: 66082 },
      { dn: `CN=krbtgt,${usersDN}`, cn: 'krbtgt', sAMAccountName: 'krbtgt', userAccountControl: 514 },
      { dn: `CN=dns-${raw.dcHostname.toLowerCase()},${usersDN}`, cn: `dns-${raw.dcHostname.toLowerCase()}`, sAMAccountName: `dns-${raw.dcHostname.toLowerCase()}`, userAccountControl: 512 },
    ],
  };
}

function rdnCount(dn: string): number {
  return parseDn(dn).rdns.length;
}

/** "CN=Smith\\, John,OU=Sales" -> "Smith, John" (escapes decoded by src/ldap/dn.ts). */
export function firstRdnValue(dn: string): string {
  return leafValue(parseDn(dn)) ?? '';
}
