// The fixture as LDIF for ldbadd/ldbmodify (users, groups, OUs, generated users in chunks).
import type { CorpFixture, FixtureUser } from './fixture.ts';
import { createHash } from 'node:crypto';

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
