/**
 * The leavers report's cost (a part of `npm run bench`): after the sync, some
 * generated users are disabled in AD (the harness writes; the product never
 * does), then
 *  - the extra LDAP search (disabled accounts) alone, in this process: time and entries;
 *  - `adsync report leavers` next to `adsync preview`: wall time, peak RSS, and the
 *    Truetask requests of each, which must be the same (the report makes none of its own).
 * Returns the lines to print.
 */
import { Change, Attribute } from 'ldapts';
import { pino } from 'pino';
import { readDisabledAccounts } from '../src/ldap/disabled-accounts.ts';
import { parseDn } from '../src/ldap/dn.ts';
import { DirectorySession } from '../src/ldap/session.ts';
import type { TruetaskSimulator } from '../src/truetask-sim/server.ts';
import { loadFixture, withAdmin, type SambaAD } from '../test/support/samba.ts';

type Timed = (cmd: string, args: string[]) => Promise<{ wall: number; rssMiB: number; stdout: string }>;

export interface LeaversBench {
  ad: SambaAD;
  sim: TruetaskSimulator;
  /** The -f file of the CLI runs (the AdSync and its Secrets). */
  file: string;
  main: string;
  timed: Timed;
  extraGeneratedUsers: number;
  pageSize: number;
  /** Generated users to disable first. */
  disable: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export async function benchLeavers(b: LeaversBench): Promise<string[]> {
  const { ad, sim } = b;
  const generated = loadFixture(ad.fixturePath, { extraGeneratedUsers: b.extraGeneratedUsers }).users.filter((u) => u.generated).slice(0, b.disable);
  const t0 = performance.now();
  await withAdmin(ad, async (c) => {
    for (const u of generated) {
      await c.modify(u.dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'userAccountControl', values: ['514'] }) }));
    }
  });
  const disableS = (performance.now() - t0) / 1000;

  // 1. the disabled-accounts search alone, 3 runs
  const session = await DirectorySession.open(
    { url: ad.ldapsUrl, bindDN: ad.bindUPN, bindPassword: ad.bindPassword, startTLS: false, tls: { ca: ad.caPem, serverName: ad.dcHostname, insecureSkipVerify: false }, timeoutSeconds: 300 },
    pino({ level: 'warn' }),
  );
  const searches: number[] = [];
  let entries = 0;
  try {
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const found = await readDisabledAccounts(session, { baseDN: ad.baseDN, pageSize: b.pageSize, emailAttribute: 'userPrincipalName' }, [parseDn(`OU=Service Accounts,${ad.baseDN}`)]);
      searches.push((performance.now() - t) / 1000);
      entries = found.entries;
    }
  } finally {
    await session.close();
  }

  // 2. report leavers next to a preview: the same Truetask requests
  const requests = () => ({ get: sim.requests('GET'), all: sim.requests() });
  const r0 = requests();
  const report = await b.timed(process.execPath, [b.main, 'report', 'leavers', '-f', b.file, '-o', 'json']);
  const r1 = requests();
  const preview = await b.timed(process.execPath, [b.main, 'preview', '-f', b.file, '-o', 'json']);
  const r2 = requests();
  const leavers = JSON.parse(report.stdout) as { disabled: number; notInDirectory: number };
  const reportReq = r1.all - r0.all;
  const previewReq = r2.all - r1.all;
  return [
    `leavers report (${generated.length} generated users disabled in AD first, in ${disableS.toFixed(1)} s): ${leavers.disabled} disabled, ${leavers.notInDirectory} not in the directory`,
    `  disabled-accounts search : median ${median(searches).toFixed(2)} s over 3 runs, ${entries} entries (page size ${b.pageSize})`,
    `  adsync report leavers    : ${report.wall.toFixed(2)} s, peak RSS ${report.rssMiB.toFixed(0)} MiB; adsync preview: ${preview.wall.toFixed(2)} s, peak RSS ${preview.rssMiB.toFixed(0)} MiB`,
    `  Truetask requests        : report ${reportReq} (${r1.get - r0.get} GET), preview ${previewReq} (${r2.get - r1.get} GET)${reportReq === previewReq ? ': the same' : ': DIFFERENT'}`,
  ];
}
