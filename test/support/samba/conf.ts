// The DC's smb.conf: every path inside the DC's own directory.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CorpFixture } from './fixture.ts';

export function smbConf(fx: CorpFixture, dcDir: string, ip: string, requireStrongAuth = true): string {
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

export async function writeSmbConf(fx: CorpFixture, dcDir: string, ip: string, requireStrongAuth = true): Promise<string> {
  for (const d of ['etc', 'lock', 'state', 'cache', 'run']) await mkdir(join(dcDir, d), { recursive: true });
  const path = join(dcDir, 'etc', 'smb.conf');
  await writeFile(path, smbConf(fx, dcDir, ip, requireStrongAuth));
  return path;
}

