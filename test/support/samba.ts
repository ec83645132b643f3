// A real, throw-away Active Directory for tests and the demo: Samba as an AD
// domain controller serving LDAP/LDAPS only, on its own loopback alias
// (127.0.0.N), seeded from test/fixtures/corp-directory.yaml.
//
// Start-up:
//  1. pick a free 127.0.0.N (ports 389/636 unused, not locked by another live
//     process) and add it to `lo` (Samba only listens on configured interfaces);
//  2. copy a cached template DC (provisioned + seeded + TLS keys generated + one
//     verified start), building it first when the cache has none for this
//     fixture/script/Samba version (~10-20 s cold);
//  3. write a per-run smb.conf (all paths point into the run's temp dir), start
//     `samba -i -M single` as a child in its own process group, and poll until an
//     LDAPS simple bind as the product's service account succeeds.
// stop() kills the process group, waits for the exit and removes the temp dir.
//
// Samba exits by itself when its stdin (a pipe from this process) closes, so a
// crashed test runner does not leave a DC behind.
//
// Needs root (port 389, `ip addr add`) and the Debian packages installed by
// scripts/samba/install.sh.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, networkInterfaces, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Attribute, Change, Client } from 'ldapts';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_FIXTURE = join(repoRoot, 'test', 'fixtures', 'corp-directory.yaml');
const INSTALL_HINT = 'run `sudo bash scripts/samba/install.sh` (Debian/Ubuntu: samba samba-dsdb-modules samba-vfs-modules samba-ad-provision ldb-tools ldap-utils)';
/** Bump to invalidate every cached template. */
const TEMPLATE_FORMAT = 4;
/** Generated users per ldbmodify process (one transaction each; progress is logged per chunk). */
const GENERATED_CHUNK = 10_000;

// ---------------------------------------------------------------------------
// public types

/** Everything a test needs to talk to the DC; plain data (vitest `provide`-able). */
export interface SambaADInfo {
  ip: string;
  /** ldap://IP:389 (Samba refuses simple binds here: strongAuthRequired). */
  ldapUrl: string;
  /** ldaps://IP:636 */
  ldapsUrl: string;
  /** PEM of the self-signed CA that issued the DC's certificate. */
  caPem: string;
  caPath: string;
  /** The name in the DC's certificate (use as TLS servername): dc1.corp.example.com */
  dcHostname: string;
  /** DC=corp,DC=example,DC=com */
  baseDN: string;
  /** CORP.EXAMPLE.COM */
  realm: string;
  /** corp.example.com */
  domain: string;
  /** CORP */
  netbiosDomain: string;
  /** svc-truetask@corp.example.com */
  bindUPN: string;
  /** CN=svc-truetask,OU=Service Accounts,DC=corp,DC=example,DC=com */
  bindDN: string;
  bindPassword: string;
  /** CN=Administrator,CN=Users,... (may write; only the test harness uses it). */
  adminDN: string;
  adminUPN: string;
  adminPassword: string;
  /** Accounts whose binds fail in AD-specific ways (sub-codes 533, 773, 775). */
  badAccounts: { disabled: BindAccount; mustChangePassword: BindAccount; locked: BindAccount };
  /** The fixture this DC was seeded from, and how many generated users it got in total. */
  fixturePath: string;
  generatedUsers: number;
  /** Run directory (temp): dc/ (the DC's files), samba.log unless logDir was given. Removed by stop(). */
  dir: string;
  logPath: string;
  timings: SambaTimings;
}

export interface BindAccount {
  dn: string;
  upn: string;
  password: string;
}

export interface SambaTimings {
  /** true: the DC was copied from a cached template. */
  fromCache: boolean;
  /** Only when a template/DC was built in this call. */
  provisionMs?: number;
  seedMs?: number;
  seedEntries?: number;
  /** Building the template incl. its verification start (cold only). */
  templateMs?: number;
  copyMs?: number;
  /** samba spawn until the first successful LDAPS bind. */
  startMs: number;
  totalMs: number;
  /** How the template was built (cold), also when it was copied from the cache. */
  template?: TemplateBuild;
}

export interface TemplateBuild {
  provisionMs: number;
  seedMs: number;
  seedEntries: number;
  /** Provision + seed + the verification start (TLS keys). */
  templateMs: number;
  builtAt: string;
}

export interface SambaAD extends SambaADInfo {
  /** Kills samba (process group), waits for its exit, removes `dir`. Idempotent. */
  stop(): Promise<void>;
  /** Settles when the samba process exits (for whatever reason). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartSambaOptions {
  /** 127.0.0.N to use; default: the first free one in 127.0.0.20..127.0.0.250. */
  ip?: string;
  fixturePath?: string;
  /** Generated users on top of the fixture's `generated.count` (benchmarks). */
  extraGeneratedUsers?: number;
  /** Where samba.log goes (kept after stop); default: inside the run dir. */
  logDir?: string;
  /** Use/refresh the template cache (default true). false: provision + seed in place. */
  cache?: boolean;
  /** Bound on samba start-up until the first LDAPS bind. Default 60 s. */
  startTimeoutMs?: number;
  /** Progress lines (default: silent). */
  log?: (line: string) => void;
  /**
   * The domain's account lockout policy: lock an account after this many bad
   * passwords (`samba-tool domain passwordsettings set --account-lockout-threshold`,
   * applied to this DC's copy of the database before it starts; other DCs keep
   * the default, no lockout). Lockouts then last `lockoutMinutes` (default 30).
   */
  lockoutThreshold?: number;
  lockoutMinutes?: number;
  /**
   * `ldap server require strong auth` (default true: simple binds on plain ldap://
   * are refused with strongAuthRequired, as AD does by default). false: plain binds
   * work, to prove the client never sends one without its opt-in.
   */
  requireStrongAuth?: boolean;
}

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

function splitRdns(dn: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < dn.length; i++) {
    const ch = dn[i];
    if (ch === '\\') {
      cur += ch + (dn[i + 1] ?? '');
      i++;
    } else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

function rdnCount(dn: string): number {
  return splitRdns(dn).length;
}

/** "CN=Smith\, John,OU=Sales" -> "Smith, John" (also \XX hex escapes, UTF-8). */
export function firstRdnValue(dn: string): string {
  const rdn = splitRdns(dn)[0] ?? '';
  const value = rdn.slice(rdn.indexOf('=') + 1);
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] ?? '';
    if (ch === '\\') {
      const hex = value.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(value[i + 1] ?? '', 'utf8'));
        i++;
      }
    } else bytes.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** RFC 4514 escaping of one attribute value (for building DNs). */
export function escapeRdnValue(value: string): string {
  let out = value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

// ---------------------------------------------------------------------------
// LDIF

/** RFC 2849 SAFE-STRING: ASCII without NUL/LF/CR, not starting with space, ':' or '<', (and no trailing space). */
function ldifSafe(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13 || c > 127) return false;
  }
  return !/^[ :<]/.test(value) && !value.endsWith(' ');
}

function ldifLine(attr: string, value: string): string {
  if (ldifSafe(value)) return `${attr}: ${value}`;
  return `${attr}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

function unicodePwd(password: string): string {
  return `unicodePwd:: ${Buffer.from(`"${password}"`, 'utf16le').toString('base64')}`;
}

/** FILETIME (100 ns since 1601) for a JS time. */
function filetime(ms: number): string {
  return (BigInt(ms) * 10000n + 116444736000000000n).toString();
}

interface LdifBuild {
  /** OUs, fixture users, computers, contacts, groups (no members yet). */
  fixture: string;
  /** Generated users, in chunks of `chunkSize` (each one ldbmodify process and transaction). */
  generatedChunks(chunkSize: number): Generator<string>;
  /** Group memberships, once every member exists. */
  memberships: string;
  entries: number;
}

/**
 * objectGUIDs for generated users that sort after every GUID Samba made at
 * provisioning (ff ff ff, then a counter): ldb keeps each index as a GUID-sorted
 * list, and a new largest GUID is appended instead of moving half of a list of
 * 100,000 on every add.
 */
function sequentialGuid(n: number, dn: string): string {
  const guid = Buffer.alloc(16, 0xff);
  guid.writeUInt32BE(n, 3);
  createHash('sha256').update(dn).digest().copy(guid, 7, 0, 9);
  return `objectGUID:: ${guid.toString('base64')}`;
}

/** The whole seed as ldbmodify LDIF: adds (parents first), generated users, then group memberships. */
export function fixtureLdif(fx: CorpFixture, now = Date.now()): LdifBuild {
  const blocks: string[] = [];
  const entry = (dn: string, lines: string[]) => [ldifLine('dn', dn), 'changetype: add', ...lines].join('\n');
  const add = (dn: string, lines: string[]) => blocks.push(entry(dn, lines));
  const userLines = (u: FixtureUser): string[] => {
    const l = ['objectClass: user', ldifLine('sAMAccountName', u.sAMAccountName)];
    for (const a of ['userPrincipalName', 'mail', 'givenName', 'sn', 'displayName', 'title', 'description'] as const) {
      const v = u[a];
      if (v !== undefined) l.push(ldifLine(a, v));
    }
    l.push(`userAccountControl: ${u.userAccountControl}`);
    if (u.password !== undefined) l.push(unicodePwd(u.password));
    if (u.pwdLastSet === 0) l.push('pwdLastSet: 0');
    if (u.locked) l.push(`lockoutTime: ${filetime(now)}`);
    return l;
  };
  for (const ou of fx.organizationalUnits) add(ou, ['objectClass: organizationalUnit']);
  for (const u of fx.users) if (!u.generated) add(u.dn, userLines(u));
  for (const c of fx.computers) add(c.dn, ['objectClass: computer', ldifLine('sAMAccountName', c.sAMAccountName), 'userAccountControl: 4096']);
  for (const c of fx.contacts) {
    const l = ['objectClass: contact'];
    if (c.mail !== undefined) l.push(ldifLine('mail', c.mail));
    if (c.displayName !== undefined) l.push(ldifLine('displayName', c.displayName));
    add(c.dn, l);
  }
  for (const g of fx.groups) {
    const l = ['objectClass: group', ldifLine('sAMAccountName', g.sAMAccountName), `groupType: ${g.groupType}`];
    if (g.description !== undefined) l.push(ldifLine('description', g.description));
    add(g.dn, l);
  }
  const locked = fx.users.filter((u) => u.locked);
  if (locked.length > 0) {
    // lockoutTime alone expires after the domain's lockoutDuration (30 min); this
    // password settings object makes these accounts' lockout last forever, so a
    // cached template stays locked.
    add(`CN=Locked-Forever,CN=Password Settings Container,CN=System,${fx.baseDN}`, [
      'objectClass: msDS-PasswordSettings',
      'msDS-PasswordSettingsPrecedence: 1',
      'msDS-PasswordReversibleEncryptionEnabled: FALSE',
      'msDS-PasswordHistoryLength: 0',
      'msDS-PasswordComplexityEnabled: TRUE',
      'msDS-MinimumPasswordLength: 7',
      'msDS-MinimumPasswordAge: 0',
      'msDS-MaximumPasswordAge: -36288000000000',
      'msDS-LockoutThreshold: 5',
      'msDS-LockoutObservationWindow: -18000000000',
      'msDS-LockoutDuration: -9223372036854775808',
      ...locked.map((u) => ldifLine('msDS-PSOAppliesTo', u.dn)),
    ]);
  }
  const generated = fx.users.filter((u) => u.generated);
  const memberships = fx.groups
    .filter((g) => g.members.length > 0)
    .map((g) => [ldifLine('dn', g.dn), 'changetype: modify', 'add: member', ...g.members.map((m) => ldifLine('member', m)), '-'].join('\n'));
  return {
    fixture: `${blocks.join('\n\n')}\n`,
    *generatedChunks(chunkSize: number) {
      for (let i = 0; i < generated.length; i += chunkSize) {
        yield `${generated
          .slice(i, i + chunkSize)
          .map((u, j) => entry(u.dn, [...userLines(u), sequentialGuid(i + j + 1, u.dn)]))
          .join('\n\n')}\n`;
      }
    },
    memberships: memberships.length > 0 ? `${memberships.join('\n\n')}\n` : '',
    entries: blocks.length + generated.length,
  };
}

// ---------------------------------------------------------------------------
// processes

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: toolEnv() }, (err, stdout, stderr) => {
      if (err) {
        const out = `${stdout}\n${stderr}`.trim().split('\n').slice(-25).join('\n');
        reject(new Error(`${cmd} ${args.filter((a) => !a.startsWith('--adminpass')).join(' ')} failed: ${err.message.split('\n')[0]}\n${out}`));
      } else resolvePromise({ stdout, stderr });
    });
  });
}

function toolEnv(): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '').split(delimiter);
  for (const p of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) if (!path.includes(p)) path.push(p);
  return { ...process.env, PATH: path.join(delimiter), LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
}

function which(cmd: string): string | undefined {
  for (const d of (toolEnv().PATH ?? '').split(delimiter)) {
    const p = join(d, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

let prereqsChecked = false;

/** Throws a message saying how to install what is missing. */
export function checkPrerequisites(): void {
  if (prereqsChecked) return;
  const missing = ['samba', 'samba-tool', 'ldbmodify', 'ip'].filter((c) => !which(c));
  if (missing.length > 0) throw new Error(`Samba AD test DC: missing ${missing.join(', ')}; ${INSTALL_HINT}`);
  if (existsSync('/usr/share/samba/setup') && !existsSync('/usr/share/samba/setup/ad-schema')) {
    throw new Error(`Samba AD test DC: the AD schema files are missing (package samba-ad-provision); ${INSTALL_HINT}`);
  }
  if (process.getuid?.() !== 0) throw new Error('Samba AD test DC: must run as root (binds ports 389/636 and adds a 127.0.0.N alias to lo)');
  try {
    if (/^(passwd|group):.*\bwinbind\b/m.test(readFileSync('/etc/nsswitch.conf', 'utf8'))) {
      console.error('[samba] warning: /etc/nsswitch.conf lists winbind; provisioning will be slow (scripts/samba/install.sh removes it)');
    }
  } catch {
    // no nsswitch.conf
  }
  prereqsChecked = true;
}

let sambaVersion: string | undefined;
async function getSambaVersion(): Promise<string> {
  sambaVersion ??= (await run('samba', ['--version'])).stdout.trim();
  return sambaVersion;
}

// ---------------------------------------------------------------------------
// IP alias + lock

const LOCK_DIR = join(tmpdir(), 'truetask-adsync-samba-locks');

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes 127.0.0.N for this process; false when a live process holds it. */
function tryLockIp(ip: string): boolean {
  const path = join(LOCK_DIR, `${ip}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isFinite(pid) && pid > 0 && pidAlive(pid)) return false;
      try {
        unlinkSync(path);
      } catch {
        // raced with another taker
      }
    }
  }
  return false;
}

function unlockIp(ip: string): void {
  const path = join(LOCK_DIR, `${ip}.lock`);
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
  } catch {
    // already gone
  }
}

function portFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const srv = createServer();
    srv.once('error', () => resolvePromise(false));
    srv.listen({ host: ip, port, exclusive: true }, () => srv.close(() => resolvePromise(true)));
  });
}

async function pickIp(requested: string | undefined): Promise<string> {
  await mkdir(LOCK_DIR, { recursive: true });
  const candidates = requested ? [requested] : Array.from({ length: 231 }, (_, i) => `127.0.0.${i + 20}`);
  for (const ip of candidates) {
    if (!tryLockIp(ip)) continue;
    if ((await portFree(ip, 389)) && (await portFree(ip, 636))) return ip;
    unlockIp(ip);
  }
  throw new Error(requested ? `Samba AD test DC: ${requested} is in use (ports 389/636 or locked by another test run)` : 'Samba AD test DC: no free 127.0.0.N in 20..250');
}

function ipOnLo(ip: string): boolean {
  return Object.values(networkInterfaces()).some((addrs) => addrs?.some((a) => a.address === ip));
}

async function ensureIpAlias(ip: string): Promise<void> {
  if (ipOnLo(ip)) return;
  try {
    await run('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']);
  } catch (err) {
    if (!/exists|already assigned/i.test(String(err))) throw err;
  }
}

// ---------------------------------------------------------------------------
// DC directory

function smbConf(fx: CorpFixture, dcDir: string, ip: string, requireStrongAuth = true): string {
  const netbios = fx.dcHostname.split('.')[0]?.toUpperCase() ?? 'DC1';
  return [
    '# Written by test/support/samba.ts for one run; all paths are inside this dir.',
    '[global]',
    `\tnetbios name = ${netbios}`,
    `\trealm = ${fx.realm}`,
    `\tworkgroup = ${fx.netbiosDomain}`,
    '\tserver role = active directory domain controller',
    '\tserver services = ldap',
    `\tinterfaces = ${ip}`,
    '\tbind interfaces only = yes',
    `\tprivate dir = ${dcDir}/private`,
    `\tlock directory = ${dcDir}/lock`,
    `\tstate directory = ${dcDir}/state`,
    `\tcache directory = ${dcDir}/cache`,
    `\tbinddns dir = ${dcDir}/bind-dns`,
    `\tpid directory = ${dcDir}/run`,
    `\tncalrpc dir = ${dcDir}/run/ncalrpc`,
    `\twinbindd socket directory = ${dcDir}/run/winbindd`,
    `\tldap server require strong auth = ${requireStrongAuth ? 'yes' : 'no'}`,
    '\ttls enabled = yes',
    '\tlog level = 1',
    '',
  ].join('\n');
}

async function writeSmbConf(fx: CorpFixture, dcDir: string, ip: string, requireStrongAuth = true): Promise<string> {
  for (const d of ['etc', 'lock', 'state', 'cache', 'run']) await mkdir(join(dcDir, d), { recursive: true });
  const path = join(dcDir, 'etc', 'smb.conf');
  await writeFile(path, smbConf(fx, dcDir, ip, requireStrongAuth));
  return path;
}

interface BuildTimings {
  provisionMs: number;
  seedMs: number;
  seedEntries: number;
}

/** samba-tool domain provision + fixture seed into dcDir (which must not exist). */
async function provisionAndSeed(fx: CorpFixture, dcDir: string, ip: string, log: (l: string) => void): Promise<BuildTimings> {
  const t0 = performance.now();
  const netbios = fx.dcHostname.split('.')[0] ?? 'dc1';
  try {
    await run('samba-tool', [
      'domain', 'provision',
      '--server-role=dc',
      '--dns-backend=NONE',
      `--realm=${fx.realm}`,
      `--domain=${fx.netbiosDomain}`,
      `--host-name=${netbios.toLowerCase()}`,
      `--adminpass=${fx.administratorPassword}`,
      `--targetdir=${dcDir}`,
      `--option=interfaces=${ip}`,
      '--option=bind interfaces only=yes',
    ], { timeoutMs: 180_000 });
  } catch (err) {
    throw new Error(`${String(err instanceof Error ? err.message : err)}\nHint: ${INSTALL_HINT}`, { cause: err });
  }
  const provisionMs = performance.now() - t0;
  log(`provisioned ${fx.realm} in ${Math.round(provisionMs)} ms`);
  const conf = await writeSmbConf(fx, dcDir, ip);
  const t1 = performance.now();
  const ldif = fixtureLdif(fx);
  const ldifPath = join(dcDir, 'seed.ldif');
  // One process and one transaction per file, without fsync and without ldb's
  // per-operation sub-transactions (batch_mode): what makes 100,000 users take
  // minutes, not hours. Generated users come with their objectGUID (relax).
  const modify = async (text: string, relax: boolean) => {
    if (text === '') return;
    await writeFile(ldifPath, text, { mode: 0o600 });
    const args = [`--configfile=${conf}`, '--nosync', '-o', 'batch_mode', ...(relax ? ['--controls=relax:0'] : []), '-H', join(dcDir, 'private', 'sam.ldb'), ldifPath];
    await run('ldbmodify', args, { timeoutMs: 60 * 60_000 });
  };
  await modify(ldif.fixture, false);
  let done = 0;
  for (const chunk of ldif.generatedChunks(GENERATED_CHUNK)) {
    await modify(chunk, true);
    done += (chunk.match(/^changetype: add$/gm) ?? []).length;
    log(`seeded ${done} generated users (${Math.round(performance.now() - t1)} ms)`);
  }
  await modify(ldif.memberships, false);
  await rm(ldifPath, { force: true });
  const seedMs = performance.now() - t1;
  log(`seeded ${ldif.entries} entries in ${Math.round(seedMs)} ms (${Math.round(ldif.entries / (seedMs / 1000))}/s)`);
  return { provisionMs, seedMs, seedEntries: ldif.entries };
}

function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'truetask-adsync', 'samba');
}

async function templateKey(fx: CorpFixture, extra: number): Promise<string> {
  const h = createHash('sha256');
  h.update(`format ${TEMPLATE_FORMAT}\n`);
  h.update(await readFile(fx.path));
  h.update(`\nextra ${extra}\n`);
  h.update(await readFile(fileURLToPath(import.meta.url)));
  h.update(await getSambaVersion());
  return h.digest('hex').slice(0, 16);
}

/** Returns the cached template's DC dir, building it (and verifying it starts) when missing. */
async function ensureTemplate(fx: CorpFixture, extra: number, ip: string, opts: Required<Pick<StartSambaOptions, 'startTimeoutMs' | 'log'>>): Promise<{ dir: string; build?: TemplateBuild; cached?: TemplateBuild }> {
  const root = cacheRoot();
  const key = await templateKey(fx, extra);
  const final = join(root, key);
  if (existsSync(join(final, 'dc', 'private', 'tls', 'ca.pem'))) {
    const cached = await readFile(join(final, 'build.json'), 'utf8').then((t) => JSON.parse(t) as TemplateBuild, () => undefined);
    return cached ? { dir: join(final, 'dc'), cached } : { dir: join(final, 'dc') };
  }
  await mkdir(root, { recursive: true });
  const t0 = performance.now();
  opts.log(`building Samba AD template ${key} in ${root}`);
  const build = await mkdtemp(join(root, 'build-'));
  try {
    const dcDir = join(build, 'dc');
    const timings = await provisionAndSeed(fx, dcDir, ip, opts.log);
    // One start: generates the TLS keys (4096-bit RSA, seconds) once for all
    // copies, and proves the template serves binds before it is cached.
    const proc = await startProcess(fx, dcDir, ip, join(build, 'samba.log'), opts.startTimeoutMs);
    await proc.stop();
    for (const d of ['run', 'lock', 'cache']) await rm(join(dcDir, d), { recursive: true, force: true });
    await rm(join(build, 'samba.log'), { force: true });
    const info: TemplateBuild = { ...timings, templateMs: performance.now() - t0, builtAt: new Date().toISOString() };
    await writeFile(join(build, 'build.json'), `${JSON.stringify(info, null, 2)}\n`);
    try {
      await rename(build, final);
    } catch (err) {
      // Another process cached the same key first: use theirs.
      if (!existsSync(join(final, 'dc', 'private', 'tls', 'ca.pem'))) throw err;
      await rm(build, { recursive: true, force: true });
    }
    await pruneTemplates(root, key);
    return { dir: join(final, 'dc'), build: info };
  } catch (err) {
    await rm(build, { recursive: true, force: true });
    throw err;
  }
}

/** Removes templates of other keys (and abandoned builds) older than a day. */
async function pruneTemplates(root: string, keep: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of await readdir(root)) {
    if (name === keep) continue;
    const p = join(root, name);
    try {
      if ((await stat(p)).mtimeMs < dayAgo) await rm(p, { recursive: true, force: true });
    } catch {
      // raced
    }
  }
}

// ---------------------------------------------------------------------------
// samba process

interface SambaProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  startMs: number;
  caPem: string;
  caPath: string;
  dcHostname: string;
  stop(): Promise<void>;
}

function logTail(path: string, lines = 30): string {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = statSync(path).size;
      const len = Math.min(size, 16_384);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').slice(-lines).join('\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '(no log)';
  }
}

async function tryBind(url: string, ca: string, servername: string, dn: string, password: string): Promise<void> {
  const client = new Client({ url, connectTimeout: 2_000, timeout: 5_000, tlsOptions: { ca: [ca], servername } });
  try {
    await client.bind(dn, password);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

async function startProcess(fx: CorpFixture, dcDir: string, ip: string, logPath: string, startTimeoutMs: number, requireStrongAuth = true): Promise<SambaProcess> {
  const conf = await writeSmbConf(fx, dcDir, ip, requireStrongAuth);
  await mkdir(dirname(logPath), { recursive: true });
  const logFd = openSync(logPath, 'a');
  const t0 = performance.now();
  // stdin is a pipe we never write: samba -i exits when it closes (our exit).
  const child = spawn('samba', ['-s', conf, '-i', '-M', 'single', '--debug-stdout'], {
    detached: true,
    stdio: ['pipe', logFd, logFd],
    env: toolEnv(),
  });
  closeSync(logFd);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolvePromise(exit);
    });
    child.once('error', (err) => {
      spawnError = err;
      exit ??= { code: null, signal: null };
      resolvePromise(exit);
    });
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) {
      await exited;
      return;
    }
    stopped = true;
    if (exit === undefined && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    child.stdin?.destroy();
  };

  const caPath = join(dcDir, 'private', 'tls', 'ca.pem');
  const certPath = join(dcDir, 'private', 'tls', 'cert.pem');
  const deadline = Date.now() + startTimeoutMs;
  let lastErr: unknown;
  try {
    for (;;) {
      if (exit !== undefined) {
        throw new Error(`samba exited during start-up (code ${exit.code}, signal ${exit.signal})${spawnError ? `: ${spawnError.message}` : ''}\n--- ${logPath} (tail)\n${logTail(logPath)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`Samba AD did not accept an LDAPS bind within ${startTimeoutMs} ms (last error: ${String(lastErr)})\n--- ${logPath} (tail)\n${logTail(logPath)}`);
      }
      if (existsSync(caPath) && existsSync(certPath)) {
        try {
          const caPem = await readFile(caPath, 'utf8');
          const dcHostname = certHostname(await readFile(certPath, 'utf8')) ?? fx.dcHostname;
          await tryBind(`ldaps://${ip}:636`, caPem, dcHostname, fx.bindAccount.dn, fx.bindAccount.password ?? '');
          return { child, exited, startMs: performance.now() - t0, caPem, caPath, dcHostname, stop };
        } catch (err) {
          lastErr = err;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The DNS name a certificate is for (first DNS SAN, else CN), lower-cased. */
function certHostname(pem: string): string | undefined {
  const cert = new X509Certificate(pem);
  const san = cert.subjectAltName?.split(',').map((s) => s.trim()).find((s) => s.startsWith('DNS:'));
  if (san) return san.slice(4).toLowerCase();
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn?.toLowerCase();
}

// ---------------------------------------------------------------------------
// startSambaAD

const RUN_DIR_PREFIX = 'truetask-adsync-samba-';

/** Run dirs of processes that died without stop() (samba itself exits with them). */
async function removeAbandonedRunDirs(): Promise<void> {
  const root = tmpdir();
  for (const name of await readdir(root)) {
    if (!name.startsWith(RUN_DIR_PREFIX) || name === 'truetask-adsync-samba-locks') continue;
    const p = join(root, name);
    try {
      const pid = Number.parseInt(await readFile(join(p, 'owner.pid'), 'utf8'), 10);
      if (Number.isFinite(pid) && pid > 0 && !pidAlive(pid)) await rm(p, { recursive: true, force: true });
    } catch {
      try {
        if ((await stat(p)).mtimeMs < Date.now() - 3600_000) await rm(p, { recursive: true, force: true });
      } catch {
        // raced
      }
    }
  }
}

export async function startSambaAD(opts: StartSambaOptions = {}): Promise<SambaAD> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  checkPrerequisites();
  const extra = opts.extraGeneratedUsers ?? 0;
  const fx = loadFixture(opts.fixturePath ?? DEFAULT_FIXTURE, { extraGeneratedUsers: extra });
  const ip = await pickIp(opts.ip);
  let runDir: string | undefined;
  try {
    await ensureIpAlias(ip);
    await removeAbandonedRunDirs();
    runDir = await mkdtemp(join(tmpdir(), RUN_DIR_PREFIX));
    await writeFile(join(runDir, 'owner.pid'), String(process.pid));
    const dcDir = join(runDir, 'dc');
    const logPath = join(opts.logDir ?? runDir, opts.logDir ? `samba-${ip}-${Date.now()}.log` : 'samba.log');
    const timings: SambaTimings = { fromCache: false, startMs: 0, totalMs: 0 };
    if (opts.cache ?? true) {
      const tpl = await ensureTemplate(fx, extra, ip, { startTimeoutMs, log });
      if (tpl.build) {
        const { builtAt: _builtAt, ...build } = tpl.build;
        Object.assign(timings, build, { template: tpl.build });
      } else {
        timings.fromCache = true;
        if (tpl.cached) timings.template = tpl.cached;
      }
      const t1 = performance.now();
      await run('cp', ['-a', tpl.dir, dcDir]);
      timings.copyMs = performance.now() - t1;
    } else {
      Object.assign(timings, await provisionAndSeed(fx, dcDir, ip, log));
    }
    if (opts.lockoutThreshold !== undefined) {
      const minutes = String(opts.lockoutMinutes ?? 30);
      const conf = await writeSmbConf(fx, dcDir, ip);
      await run('samba-tool', [
        'domain', 'passwordsettings', 'set',
        `--account-lockout-threshold=${opts.lockoutThreshold}`,
        `--account-lockout-duration=${minutes}`,
        `--reset-account-lockout-after=${minutes}`,
        `--configfile=${conf}`,
        '-H', join(dcDir, 'private', 'sam.ldb'),
      ]);
      log(`account lockout after ${opts.lockoutThreshold} bad passwords, for ${minutes} min`);
    }
    const proc = await startProcess(fx, dcDir, ip, logPath, startTimeoutMs, opts.requireStrongAuth ?? true);
    timings.startMs = proc.startMs;
    timings.totalMs = performance.now() - t0;
    log(`Samba AD up at ldaps://${ip}:636 in ${Math.round(timings.totalMs)} ms${timings.fromCache ? ' (cached template)' : ''}`);
    const byName = (sam: string): BindAccount => {
      const u = fx.users.find((x) => x.sAMAccountName === sam);
      if (!u?.password || !u.userPrincipalName) throw new Error(`fixture lacks ${sam} with a password and UPN`);
      return { dn: u.dn, upn: u.userPrincipalName, password: u.password };
    };
    const dir = runDir;
    let stopping: Promise<void> | undefined;
    return {
      ip,
      ldapUrl: `ldap://${ip}:389`,
      ldapsUrl: `ldaps://${ip}:636`,
      caPem: proc.caPem,
      caPath: proc.caPath,
      dcHostname: proc.dcHostname,
      baseDN: fx.baseDN,
      realm: fx.realm,
      domain: fx.domain,
      netbiosDomain: fx.netbiosDomain,
      bindUPN: fx.bindAccount.userPrincipalName ?? `${fx.bindAccount.sAMAccountName}@${fx.domain}`,
      bindDN: fx.bindAccount.dn,
      bindPassword: fx.bindAccount.password ?? '',
      adminDN: `CN=Administrator,CN=Users,${fx.baseDN}`,
      adminUPN: `Administrator@${fx.domain}`,
      adminPassword: fx.administratorPassword,
      badAccounts: { disabled: byName('svc-disabled'), mustChangePassword: byName('svc-mustchange'), locked: byName('svc-locked') },
      fixturePath: fx.path,
      generatedUsers: fx.generated.count,
      dir,
      logPath,
      timings,
      exited: proc.exited,
      stop: () => {
        stopping ??= (async () => {
          await proc.stop();
          await rm(dir, { recursive: true, force: true });
          unlockIp(ip);
        })();
        return stopping;
      },
    };
  } catch (err) {
    if (runDir) await rm(runDir, { recursive: true, force: true });
    unlockIp(ip);
    throw err;
  }
}

/** The serializable part of a SambaAD (for vitest provide/inject). */
export function sambaInfo(ad: SambaAD): SambaADInfo {
  const { stop: _stop, exited: _exited, ...info } = ad;
  return info;
}

// ---------------------------------------------------------------------------
// helpers for tests that change AD (the harness writes; the product never does)

/** A client for ldaps://DC with the DC's CA and name (not bound). */
export function ldapsClient(ad: SambaADInfo): Client {
  return new Client({ url: ad.ldapsUrl, connectTimeout: 5_000, timeout: 30_000, strictDN: false, tlsOptions: { ca: [ad.caPem], servername: ad.dcHostname } });
}

/** Runs fn with a client bound as Administrator over LDAPS. */
export async function withAdmin<T>(ad: SambaADInfo, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = ldapsClient(ad);
  try {
    await client.bind(ad.adminDN, ad.adminPassword);
    return await fn(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

export interface NewUser {
  /** RDN value (unescaped), e.g. "Smith, Jane". */
  cn: string;
  /** Parent DN (full). Default CN=Users,<baseDN>. */
  parentDN?: string;
  sAMAccountName: string;
  userPrincipalName?: string;
  mail?: string;
  givenName?: string;
  sn?: string;
  displayName?: string;
  /** Default 512 (enabled). */
  userAccountControl?: number;
  password?: string;
}

/** Creates a user; returns its DN. */
export async function addUser(ad: SambaADInfo, u: NewUser): Promise<string> {
  const dn = `CN=${escapeRdnValue(u.cn)},${u.parentDN ?? `CN=Users,${ad.baseDN}`}`;
  const attrs: Attribute[] = [
    new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
    new Attribute({ type: 'sAMAccountName', values: [u.sAMAccountName] }),
  ];
  for (const a of ['userPrincipalName', 'mail', 'givenName', 'sn', 'displayName'] as const) {
    const v = u[a];
    if (v !== undefined) attrs.push(new Attribute({ type: a, values: [v] }));
  }
  if (u.password !== undefined) attrs.push(new Attribute({ type: 'unicodePwd', values: [Buffer.from(`"${u.password}"`, 'utf16le')] }));
  attrs.push(new Attribute({ type: 'userAccountControl', values: [String(u.userAccountControl ?? 512)] }));
  await withAdmin(ad, (c) => c.add(dn, attrs));
  return dn;
}

export async function addMember(ad: SambaADInfo, groupDN: string, memberDN: string): Promise<void> {
  await withAdmin(ad, (c) => c.modify(groupDN, new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [memberDN] }) })));
}

export async function removeMember(ad: SambaADInfo, groupDN: string, memberDN: string): Promise<void> {
  await withAdmin(ad, (c) => c.modify(groupDN, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [memberDN] }) })));
}

/** Replaces (value/values) or deletes (null) attributes of an entry, e.g. { userAccountControl: '514' }. */
export async function modifyEntry(ad: SambaADInfo, dn: string, changes: Record<string, string | string[] | null>): Promise<void> {
  const list = Object.entries(changes).map(([type, v]) =>
    v === null
      ? new Change({ operation: 'delete', modification: new Attribute({ type, values: [] }) })
      : new Change({ operation: 'replace', modification: new Attribute({ type, values: Array.isArray(v) ? v : [v] }) }),
  );
  await withAdmin(ad, (c) => c.modify(dn, list));
}

/** An account's bad-password count and lockout time (0 or absent: not locked), read as Administrator. */
export async function lockoutState(ad: SambaADInfo, dn: string): Promise<{ badPwdCount: number; lockoutTime: number }> {
  return withAdmin(ad, async (c) => {
    const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['badPwdCount', 'lockoutTime'] });
    const e = searchEntries[0];
    const num = (v: unknown) => Number(Array.isArray(v) ? v[0] : (v ?? 0)) || 0;
    return { badPwdCount: num(e?.badPwdCount), lockoutTime: num(e?.lockoutTime) };
  });
}

export async function deleteEntry(ad: SambaADInfo, dn: string): Promise<void> {
  await withAdmin(ad, (c) => c.del(dn));
}

/** Creates a global security group (cn and sAMAccountName as given, unescaped) under parentDN; returns its DN. */
export async function addGroup(ad: SambaADInfo, g: { cn: string; sAMAccountName: string; parentDN?: string; members?: string[] }): Promise<string> {
  const dn = `CN=${escapeRdnValue(g.cn)},${g.parentDN ?? `OU=Groups,${ad.baseDN}`}`;
  const attrs: Attribute[] = [
    new Attribute({ type: 'objectClass', values: ['top', 'group'] }),
    new Attribute({ type: 'sAMAccountName', values: [g.sAMAccountName] }),
    new Attribute({ type: 'groupType', values: ['-2147483646'] }),
  ];
  if (g.members && g.members.length > 0) attrs.push(new Attribute({ type: 'member', values: g.members }));
  await withAdmin(ad, (c) => c.add(dn, attrs));
  return dn;
}
