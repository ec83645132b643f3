/**
 * Benchmarks (`npm run bench`; never timed assertions in tests). For each directory
 * size, against a Samba AD seeded with the fixture plus N generated users (some in
 * nested admin groups, some in an excluded OU; cached like the test template):
 *  1. `adsync preview` (wall time, peak RSS) next to `ldapsearch` reading the same
 *     entries with the same filter, attributes and page size, runs interleaved;
 *  2. `adsync sync --confirm` of every user into the Truetask simulator (users/s,
 *     writes in flight, peak RSS), then a re-sync that must write nothing;
 *     then the leavers report (bench/leavers.ts) after disabling up to 1,000 users;
 *     then changed-only runs (bench/changed.ts): a no-op one and one with a new hire,
 *     next to a full run;
 *  3. the operator: time from setting truetask.io/sync-now to the status showing the
 *     run, and the controller's RSS (idle with no AdSync, after the runs, peak).
 * The product runs as shipped: dist/ is built first (npm run build).
 * Prints one Markdown table with a column per size, ready for a closing note.
 *
 *   node bench/run.ts [--users 100000] [--users 20000,100000] [--runs 3]
 *                     [--page-size 500] [--concurrency 4] [--skip-controller]
 *                     [--only preview] [--compare-with OTHER/dist]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseCliOrExit, usageError } from '../src/util/cli-args.ts';

const values = parseCliOrExit({
  program: 'bench',
  usage: `usage: npm run bench -- [--users N[,N...]] [--runs 3] [--page-size 500] [--concurrency 4] [--skip-controller]
                        [--only preview] [--compare-with OTHER/dist]

Benchmarks (never timed assertions in tests), one column per directory size: adsync
preview of a seeded Samba AD next to ldapsearch, sync --confirm and an idle re-sync into
the simulator, and the operator's sync-now latency and memory. Prints one table.

  --users N[,N...]    generated users on top of the fixture (default 10000)
  --runs N            previews and ldapsearch runs per size, interleaved (default 3)
  --page-size N       LDAP page size for both (default 500, at most 1000)
  --concurrency N     Truetask writes in flight (default 4)
  --skip-controller   leave out the operator benchmarks (no kube-apiserver)
  --only preview      only the preview next to ldapsearch (no sync, leavers, changed runs, operator)
  --compare-with DIR  also run DIR/cli/main.js (another checkout's built dist/, e.g. main's)
                      interleaved with this one's previews: before/after in one run
  -h, --help          print this help
`,
  options: {
    users: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    'page-size': { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '4' },
    'skip-controller': { type: 'boolean', default: false },
    only: { type: 'string' },
    'compare-with': { type: 'string' },
  },
});
const whole = (s: string): number => (/^[0-9]+$/.test(s.trim()) ? Number(s.trim()) : NaN);
const sizes = values.users.split(',').map(whole);
const RUNS = whole(values.runs);
const PAGE = whole(values['page-size']);
const CONCURRENCY = whole(values.concurrency);
if (sizes.some((n) => Number.isNaN(n))) usageError(`bench: --users must be whole numbers, got ${JSON.stringify(values.users)}`);
if (Number.isNaN(RUNS) || RUNS < 1) usageError(`bench: --runs must be at least 1, got ${JSON.stringify(values.runs)}`);
if (Number.isNaN(PAGE) || PAGE < 1 || PAGE > 1000) usageError(`bench: --page-size must be 1-1000, got ${JSON.stringify(values['page-size'])}`);
if (values.only !== undefined && values.only !== 'preview') usageError(`bench: --only takes preview, got ${JSON.stringify(values.only)}`);
const ONLY_PREVIEW = values.only === 'preview';
if (Number.isNaN(CONCURRENCY) || CONCURRENCY < 1 || CONCURRENCY > 64) usageError(`bench: --concurrency must be 1-64, got ${JSON.stringify(values.concurrency)}`);

// Loaded once the arguments are known to be good (--help and bad flags answer at once).
const { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
const { startTruetaskSimulator } = await import('../src/truetask-sim/server.ts');
const { kubeConfigFor, startApiServer } = await import('../test/support/kube-apiserver.ts');
const { startSambaAD } = await import('../test/support/samba.ts');
const { adsyncObject, scenarioYaml, secretObjects, TOKEN, TOKEN_NAME } = await import('../test/support/scenario.ts');
type SambaAD = import('../test/support/samba.ts').SambaAD;

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));
/** The product as shipped: compiled JavaScript (npm run build), not the TypeScript sources. */
const main = join(repo, 'dist', 'cli', 'main.js');
/** --compare-with: another build's CLI (e.g. main's), previewed interleaved with this one. */
const baseline = values['compare-with'] === undefined ? undefined : join(values['compare-with'], 'cli', 'main.js');
const DEFAULT_FILTER = '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))';
const ATTRIBUTES = ['userPrincipalName', 'displayName', 'givenName', 'sn', 'cn'];
/** The simulator hashes the passwords it stores; cheaply here, to measure the client, not the hashing. */
const SIM_HASH_COST = 16;
const MiB = 1024 * 1024;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const secs = (ms: number): string => {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
};
const log = (line: string) => console.error(`[bench] ${line}`);

interface Timed {
  wall: number;
  rssMiB: number;
  stdout: string;
}

/** Runs a command under GNU time: wall seconds and peak RSS of the whole process. */
async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Timed> {
  const { stdout, stderr } = await run('/usr/bin/time', ['-f', 'BENCH %e %M', cmd, ...args], { env: { ...process.env, ...env }, maxBuffer: 1024 * MiB });
  const m = /BENCH ([\d.]+) (\d+)\s*$/.exec(stderr);
  if (!m) throw new Error(`no timing from ${cmd}: ${stderr.slice(-500)}`);
  return { wall: Number(m[1]), rssMiB: Number(m[2]) / 1024, stdout };
}

async function procStatus(pid: number): Promise<{ rss: number; hwm: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Result {
  n: number;
  seeding: string;
  entries: number;
  admins: number;
  excluded: number;
  ldapsearch: { wall: number; rss: number; walls: number[] };
  preview: { wall: number; rss: number; walls: number[] };
  /** --compare-with: the other build's previews. */
  baseline?: { wall: number; rss: number; walls: number[] };
  /** Absent with --only preview. */
  sync?: { created: number; wall: number; rss: number };
  resync?: { wall: number; rss: number; writes: number };
  leavers: string[];
  changed: string[];
  controller?: { latency: number; latencies: number[]; idleEmpty: number; idleAfter: number; peak: number };
}

async function controllerBench(ad: SambaAD, simUrl: string): Promise<Result['controller']> {
  const api = await startApiServer();
  try {
    await api.kubectl(['apply', '-f', 'crds/truetask.io_adsyncs.yaml']);
    await api.kubectl(['wait', '--for=condition=Established', 'crd/adsyncs.truetask.io']);
    const kc = kubeConfigFor(api);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const env = { ...process.env, KUBECONFIG: api.kubeconfigPath };
    const args = (extra: string[]) => [main, 'controller', '--metrics-bind-address=127.0.0.1:0', '--no-leader-elect', '--log-level=warn', ...extra];

    // idle, with nothing to watch in its namespace
    const idle = spawn(process.execPath, args(['--namespaces=kube-system']), { env, stdio: 'ignore' });
    await sleep(8000);
    const idleEmpty = (await procStatus(idle.pid ?? 0)).rss;
    idle.kill('SIGTERM');
    await new Promise((r) => idle.once('exit', r));

    const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs', namespace: 'default' };
    for (const s of secretObjects({ ad, truetaskUrl: simUrl, namespace: 'default' })) await core.createNamespacedSecret({ namespace: 'default', body: s as never });
    const ctl = spawn(process.execPath, args([]), { env, stdio: 'ignore' });
    try {
      const status = async () => ((await custom.getNamespacedCustomObject({ ...G, name: 'corp' })) as { status?: { lastHandledSyncNow?: string; preview?: unknown } }).status;
      await custom.createNamespacedCustomObject({ ...G, body: adsyncObject({ ad, truetaskUrl: simUrl, namespace: 'default', ldap: { pageSize: PAGE, timeoutSeconds: 120 } }) });
      while (!(await status())?.preview) await sleep(200);
      const latencies: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const value = `bench-${Date.now()}-${i}`;
        const t = performance.now();
        await custom.patchNamespacedCustomObject({ ...G, name: 'corp', body: { metadata: { annotations: { 'truetask.io/sync-now': value } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
        while ((await status())?.lastHandledSyncNow !== value) await sleep(50);
        latencies.push((performance.now() - t) / 1000);
      }
      await sleep(8000); // let the heap settle
      const after = await procStatus(ctl.pid ?? 0);
      return { latency: median(latencies), latencies, idleEmpty, idleAfter: after.rss, peak: after.hwm };
    } finally {
      ctl.kill('SIGTERM');
      await new Promise((r) => ctl.once('exit', r));
    }
  } finally {
    await api.stop();
  }
}

async function benchSize(n: number): Promise<Result> {
  log(`Samba AD with the fixture + ${n} generated users (built once, then cached)...`);
  const t0 = Date.now();
  const ad = await startSambaAD({ extraGeneratedUsers: n, startTimeoutMs: 600_000, log: (l) => log(`samba: ${l}`) });
  const tpl = ad.timings.template;
  const seeding = tpl
    ? `${secs(tpl.templateMs)} cold (provision ${secs(tpl.provisionMs)}, seed ${secs(tpl.seedMs)})${ad.timings.fromCache ? `; cached: up in ${secs(Date.now() - t0)}` : ''}`
    : `cached: up in ${secs(Date.now() - t0)}`;
  log(`AD ready: ${seeding}`);
  const sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], passwordHashCost: SIM_HASH_COST });
  const work = await mkdtemp(join(tmpdir(), 'adsync-bench-'));
  try {
    const file = join(work, 'corp.yaml');
    await writeFile(file, scenarioYaml({ ad, truetaskUrl: sim.url, ldap: { pageSize: PAGE, timeoutSeconds: 120 } }));
    const pwFile = join(work, 'pw');
    await writeFile(pwFile, ad.bindPassword, { mode: 0o600 });

    // 1. preview and ldapsearch, interleaved so that machine noise hits both alike
    const previews: Timed[] = [];
    const baselines: Timed[] = [];
    const searches: Timed[] = [];
    const ldapsearch = () =>
      timed('ldapsearch', ['-LLL', '-H', ad.ldapsUrl, '-x', '-D', ad.bindUPN, '-y', pwFile, '-b', ad.baseDN, '-E', `pr=${PAGE}/noprompt`, DEFAULT_FILTER, ...ATTRIBUTES], {
        LDAPTLS_CACERT: ad.caPath,
        LDAPTLS_REQCERT: 'allow', // the DC's certificate names dc1.corp.example.com; we connect by IP
      });
    // The first search after the DC starts reads its database from disk (measured: 10-15% slower
    // than the next); one untimed search first, so that the first timed run is not the only cold one.
    const warm = await ldapsearch();
    log(`warm-up ldapsearch (not counted): ${warm.wall} s`);
    for (let i = 0; i < RUNS; i++) {
      if (baseline) baselines.push(await timed(process.execPath, [baseline, 'preview', '-f', file, '-o', 'json']));
      previews.push(await timed(process.execPath, [main, 'preview', '-f', file, '-o', 'json']));
      searches.push(await ldapsearch());
      log(`run ${i + 1}/${RUNS} (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}): preview ${previews[i]?.wall} s,${baseline ? ` baseline preview ${baselines[i]?.wall} s,` : ''} ldapsearch ${searches[i]?.wall} s`);
    }
    const preview = JSON.parse(previews[0]?.stdout ?? '{}') as { summary: Record<string, number>; users: Array<{ role: string | null }> };
    const entries = (searches[0]?.stdout.match(/^dn::? /gm) ?? []).length;
    const admins = preview.users.filter((u) => u.role === 'admin').length;
    preview.users = [];
    const previewResult = {
      n,
      seeding,
      entries,
      admins,
      excluded: preview.summary.excluded ?? 0,
      ldapsearch: { wall: median(searches.map((s) => s.wall)), rss: median(searches.map((s) => s.rssMiB)), walls: searches.map((s) => s.wall) },
      preview: { wall: median(previews.map((p) => p.wall)), rss: Math.max(...previews.map((p) => p.rssMiB)), walls: previews.map((p) => p.wall) },
      ...(baseline ? { baseline: { wall: median(baselines.map((p) => p.wall)), rss: Math.max(...baselines.map((p) => p.rssMiB)), walls: baselines.map((p) => p.wall) } } : {}),
      leavers: [],
      changed: [],
    };
    if (ONLY_PREVIEW) return previewResult;

    // 2. sync everything, then a re-sync that has nothing to do
    const sync = await timed(process.execPath, [main, 'sync', '-f', file, '--confirm', '-o', 'json', '--log-level', 'warn', '--concurrency', String(CONCURRENCY)]);
    const created = (JSON.parse(sync.stdout) as { result: { created: number } }).result.created;
    log(`sync: ${created} created in ${sync.wall} s`);
    const before = sim.requests('POST') + sim.requests('PATCH');
    const resync = await timed(process.execPath, [main, 'sync', '-f', file, '--confirm', '-o', 'json', '--log-level', 'warn', '--concurrency', String(CONCURRENCY)]);
    const writes = sim.requests('POST') + sim.requests('PATCH') - before;
    log(`re-sync: ${writes} writes in ${resync.wall} s`);

    // 2b. the leavers report (bench/leavers.ts): its extra LDAP search, and no Truetask request of its own
    const { benchLeavers } = await import('./leavers.ts');
    const leavers = await benchLeavers({ ad, sim, file, main, timed, extraGeneratedUsers: n, pageSize: PAGE, disable: Math.min(1000, n + 250) });
    for (const line of leavers) log(line);

    // 2c. changed-only runs (bench/changed.ts): a no-op one and a new hire, next to a full run
    const { benchChanged } = await import('./changed.ts');
    const changed = await benchChanged({ ad, sim, pageSize: PAGE });
    for (const line of changed) log(line);

    // 3. the operator
    const controller = values['skip-controller'] ? undefined : await controllerBench(ad, sim.url);
    return {
      ...previewResult,
      sync: { created, wall: sync.wall, rss: sync.rssMiB },
      resync: { wall: resync.wall, rss: resync.rssMiB, writes },
      leavers,
      changed,
      ...(controller ? { controller } : {}),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    await sim.close();
    await ad.stop();
  }
}

log('building dist/ (npm run build)...');
await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.build.json')]);
const results: Result[] = [];
for (const n of sizes) results.push(await benchSize(n));

const num = (x: number) => x.toLocaleString('en-US');
const rows: Array<[string, string, (r: Result) => string]> = [
  ['generated users (+ fixture)', '', (r) => num(r.n)],
  ['seeding the DC', '<= ~10 min cold at 100k', (r) => r.seeding],
  ['entries the default filter matches', '', (r) => `${num(r.entries)} (${num(r.admins)} admins, ${num(r.excluded)} excluded)`],
  [`ldapsearch, page size ${PAGE}: wall / peak RSS`, '', (r) => `${r.ldapsearch.wall.toFixed(2)} s / ${r.ldapsearch.rss.toFixed(0)} MiB`],
  [`adsync preview -o json: wall (median of ${RUNS})`, '<= 1.15x ldapsearch', (r) => `${r.preview.wall.toFixed(2)} s (${(r.preview.wall / r.ldapsearch.wall).toFixed(2)}x)`],
  ['adsync preview: each run', '', (r) => r.preview.walls.map((w) => w.toFixed(2)).join(', ')],
  ['preview / ldapsearch of the same run: each run', '', (r) => r.preview.walls.map((w, i) => `${(w / (r.ldapsearch.walls[i] ?? NaN)).toFixed(2)}x`).join(', ')],
  ...(baseline
    ? ([
        [`--compare-with preview: wall (median of ${RUNS})`, '', (r) => (r.baseline ? `${r.baseline.wall.toFixed(2)} s (${(r.baseline.wall / r.ldapsearch.wall).toFixed(2)}x)` : '-')],
        ['--compare-with preview: each run', '', (r) => r.baseline?.walls.map((w) => w.toFixed(2)).join(', ') ?? '-'],
      ] satisfies Array<[string, string, (r: Result) => string]>)
    : []),
  ['adsync preview: peak RSS', '<= 200 MiB', (r) => `${r.preview.rss.toFixed(0)} MiB`],
  ['adsync sync --confirm: created, rate', '>= 500 creates/s', (r) => (r.sync ? `${num(r.sync.created)} in ${r.sync.wall.toFixed(1)} s = ${num(Math.round(r.sync.created / r.sync.wall))}/s (${CONCURRENCY} writes in flight)` : '-')],
  ['adsync sync: peak RSS', '<= 200 MiB', (r) => (r.sync ? `${r.sync.rss.toFixed(0)} MiB` : '-')],
  ['re-sync: writes, wall / peak RSS', '0 writes', (r) => (r.resync ? `${r.resync.writes} writes, ${r.resync.wall.toFixed(2)} s / ${r.resync.rss.toFixed(0)} MiB` : '-')],
  [`controller: sync-now -> status (median of ${RUNS}, Preview)`, '', (r) => (r.controller ? `${r.controller.latency.toFixed(2)} s (${Math.min(...r.controller.latencies).toFixed(2)}-${Math.max(...r.controller.latencies).toFixed(2)})` : '-')],
  ['controller RSS: idle, no AdSync', '<= 120 MiB', (r) => (r.controller ? `${r.controller.idleEmpty.toFixed(0)} MiB` : '-')],
  ['controller RSS: idle after the runs / peak', '', (r) => (r.controller ? `${r.controller.idleAfter.toFixed(0)} / ${r.controller.peak.toFixed(0)} MiB` : '-')],
];
const header = ['measure', 'target', ...results.map((r) => `${num(r.n)} users`)];
console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const [name, target, cell] of rows) console.log(`| ${[name, target, ...results.map(cell)].join(' | ')} |`);
if (!ONLY_PREVIEW) for (const r of results) console.log(`\nAt ${num(r.n)} users, ${r.leavers.join('\n')}\n${r.changed.join('\n')}`);
console.log(`\nNode ${process.version}, ${(await run('samba', ['--version'])).stdout.trim()}, ${(await readFile('/proc/cpuinfo', 'utf8')).match(/^processor/gm)?.length ?? '?'} CPUs; load average at the end: ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}.`);
console.log('Peak RSS is the whole process (GNU time). The simulator runs in the bench process and hashes passwords with scrypt N=16.');
