/**
 * Changed-only runs' cost (a part of `npm run bench`, or alone:
 * `node bench/changed.ts --users 100000`): in this process, the engine as the
 * controller runs it, against a Samba AD whose users are all in Truetask already:
 *  - a full run (Sync mode, nothing to write): reads every entry, lists every user;
 *  - a no-op changed-only run (nothing changed since): median of 3;
 *  - a changed-only run after one new hire was added to AD.
 * For each: wall time, directory entries read, LDAP operations (bind, searches) and
 * Truetask requests (GET, POST). Alone, Truetask is seeded with the directory's users
 * (what a full sync would have created) instead of syncing them over HTTP.
 * Returns the lines to print.
 */
import { fileURLToPath } from 'node:url';
import type { EngineConfig } from '../src/config/engine-config.ts';
import type { Logger } from '../src/log.ts';
import { silentLogger } from '../src/log.ts';
import type { EngineDeps, RunKind, RunReport } from '../src/reconcile/engine.ts';
import { DirectorySession, type LdapConnectionConfig } from '../src/ldap/session.ts';
import type { TruetaskSimulator } from '../src/truetask-sim/server.ts';
import type { SambaAD } from '../test/support/samba.ts';

export interface ChangedBench {
  ad: SambaAD;
  /** Every directory user is in it already. */
  sim: TruetaskSimulator;
  pageSize: number;
}

interface Measured {
  report: RunReport;
  wall: number;
  binds: number;
  searches: number;
  gets: number;
  writes: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** DirectorySession.open, counting binds and searches (each search: one LDAP operation, pages aside). */
function countingOpen(count: { binds: number; searches: number }) {
  return async (cfg: LdapConnectionConfig, logger: Logger): Promise<DirectorySession> => {
    const session = await DirectorySession.open(cfg, logger);
    count.binds++;
    return new Proxy(session, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (prop === 'search' || prop === 'pagedSearch') count.searches++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  };
}

async function measure(b: ChangedBench, cfg: EngineConfig, kind: RunKind, deps: Partial<EngineDeps>): Promise<Measured> {
  const { runOnce } = await import('../test/support/engine-run.ts');
  const count = { binds: 0, searches: 0 };
  const g0 = b.sim.requests('GET');
  const w0 = b.sim.requests('POST') + b.sim.requests('PATCH');
  const t = performance.now();
  const report = await runOnce(cfg, kind, { ...deps, openDirectory: countingOpen(count), logger: silentLogger() });
  const wall = (performance.now() - t) / 1000;
  return { report, wall, ...count, gets: b.sim.requests('GET') - g0, writes: b.sim.requests('POST') + b.sim.requests('PATCH') - w0 };
}

const line = (what: string, m: Measured) =>
  `  ${what.padEnd(28)}: ${m.wall.toFixed(2)} s, ${m.report.entriesRead ?? 0} entries read, LDAP ${m.binds} bind + ${m.searches} searches, Truetask ${m.gets} GET + ${m.writes} writes`;

export async function benchChanged(b: ChangedBench): Promise<string[]> {
  const { engineConfig } = await import('../test/support/engine-run.ts');
  const { addUser } = await import('../test/support/samba.ts');
  const cfg = await engineConfig({ ad: b.ad, truetaskUrl: b.sim.url, mode: 'Sync', ldap: { pageSize: b.pageSize, timeoutSeconds: 120 } });
  const full = await measure(b, cfg, 'sync', {});
  const since = full.report.server;
  if (!since) throw new Error('the full run reported no server');
  const noops: Measured[] = [];
  for (let i = 0; i < 3; i++) noops.push(await measure(b, cfg, 'sync', { changedSince: since }));
  const noop = [...noops].sort((x, y) => x.wall - y.wall)[1] as Measured;
  const tag = Date.now().toString(36);
  await addUser(b.ad, { cn: `New Hire ${tag}`, parentDN: `OU=Sales,OU=Staff,${b.ad.baseDN}`, sAMAccountName: `hire.${tag}`, userPrincipalName: `new.hire.${tag}@corp.example.com`, displayName: `New Hire ${tag}` });
  const hire = await measure(b, cfg, 'sync', { changedSince: since });
  return [
    `changed-only runs (engine in-process, Sync mode, every user already in Truetask; no-op: median of 3 ${noops.map((m) => m.wall.toFixed(2)).join('/')} s):`,
    line('full run, nothing to write', full),
    line('changed-only, nothing changed', noop),
    line(`changed-only, one new hire`, hire) + `: ${hire.report.apply?.created ?? 0} created`,
    `  ${full.report.full && !noop.report.full && !hire.report.full ? '' : 'UNEXPECTED run kinds: '}full ${full.report.full}, no-op changed ${!noop.report.full}, new hire changed ${!hire.report.full}; median no-op ${median(noops.map((m) => m.wall)).toFixed(2)} s`,
  ];
}

// Alone: node bench/changed.ts [--users N] [--page-size 500]
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { parseCliOrExit, usageError } = await import('../src/util/cli-args.ts');
  const values = parseCliOrExit({
    program: 'bench/changed',
    usage: `usage: node bench/changed.ts [--users N] [--page-size 500]

The cost of changed-only runs next to a full run, on a Samba AD with the fixture plus N
generated users (cached like the test template), Truetask seeded with its users.
`,
    options: { users: { type: 'string', default: '10000' }, 'page-size': { type: 'string', default: '500' } },
  });
  const n = Number(values.users);
  const pageSize = Number(values['page-size']);
  if (!Number.isInteger(n) || n < 0) usageError(`bench/changed: --users must be a whole number, got ${JSON.stringify(values.users)}`);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) usageError(`bench/changed: --page-size must be 1-1000, got ${JSON.stringify(values['page-size'])}`);
  const { startSambaAD } = await import('../test/support/samba.ts');
  const { startTruetaskSimulator } = await import('../src/truetask-sim/server.ts');
  const { engineConfig, runOnce } = await import('../test/support/engine-run.ts');
  const { TOKEN, TOKEN_NAME } = await import('../test/support/scenario.ts');
  const ad = await startSambaAD({ extraGeneratedUsers: n, startTimeoutMs: 600_000, log: (l) => console.error(`[bench] samba: ${l}`) });
  let sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
  try {
    // What a full sync would have created, seeded directly.
    const cfg = await engineConfig({ ad, truetaskUrl: sim.url, mode: 'Preview', ldap: { pageSize, timeoutSeconds: 120 } });
    const plan = (await runOnce(cfg, 'preview', { withLeavers: false })).plan;
    await sim.close();
    const users = plan.changes.flatMap((c) => (c.kind === 'create' ? [{ email: c.email, name: c.name, role: c.role }] : []));
    sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], users, passwordHashCost: 16 });
    console.error(`[bench] Truetask seeded with ${users.length} users`);
    for (const l of await benchChanged({ ad, sim, pageSize })) console.log(l);
    console.log(`load average at the end: ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  } finally {
    await sim.close();
    await ad.stop();
  }
}
