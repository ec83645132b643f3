/**
 * A bad neighbour harms no one (issue 18), measured (`npm run bench:neighbours`; never
 * timed assertions in tests). One controller (`adsync controller`, a child process,
 * 2 workers as shipped) on a real kube-apiserver, the Samba AD test DC and the
 * Truetask simulator:
 *  1. N healthy AdSyncs (Preview, interval 1m) and 3 hostile ones (a DC that never
 *     answers, a DC that sends entries for ever, a Truetask that drips its body a byte
 *     a second; spec.timeout 10s): for --minutes, how late each healthy run completes
 *     after it was due (status.nextSyncAt -> status.lastRun.at, run time included),
 *     what the hostile ones report, and the controller's RSS.
 *  2. Up to --many AdSyncs (interval 1h): time until all have run once, then a restart:
 *     time until the new controller has reconciled every one (its per-AdSync metrics),
 *     its RSS, and the API requests it makes per minute while idle.
 *
 *   node bench/neighbours.ts [--healthy 50] [--minutes 3] [--many 200]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseCliOrExit, usageError } from '../src/util/cli-args.ts';

const values = parseCliOrExit({
  program: 'bench-neighbours',
  usage: `usage: node bench/neighbours.ts [--healthy 50] [--minutes 3] [--many 200]

One controller with N healthy AdSyncs (interval 1m) and 3 hostile ones: the worst
lateness of the healthy runs, the hostile ones' reasons, the controller's RSS; then
--many AdSyncs: time to reconcile all after a restart, RSS, API requests/min idle.

  --healthy N    healthy AdSyncs next to the 3 hostile ones (default 50)
  --minutes N    how long to watch them (default 3)
  --many N       AdSyncs for the restart measurement (default 200; 0: skip)
  --baseline     the same without the 3 hostile AdSyncs (to compare the lateness)
  -h, --help     print this help
`,
  options: { healthy: { type: 'string', default: '50' }, minutes: { type: 'string', default: '3' }, many: { type: 'string', default: '200' }, baseline: { type: 'boolean', default: false } },
});
const whole = (s: string): number => (/^[0-9]+$/.test(s.trim()) ? Number(s.trim()) : NaN);
const HEALTHY = whole(values.healthy);
const MINUTES = whole(values.minutes);
const MANY = whole(values.many);
if ([HEALTHY, MINUTES, MANY].some(Number.isNaN)) usageError('bench-neighbours: --healthy, --minutes and --many must be whole numbers');

const { CoreV1Api, CustomObjectsApi } = await import('@kubernetes/client-node');
const { startTruetaskSimulator } = await import('../src/truetask-sim/server.ts');
const { kubeConfigFor, startApiServer } = await import('../test/support/kube-apiserver.ts');
const { startSambaAD } = await import('../test/support/samba.ts');
const { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } = await import('../test/support/scenario.ts');
const { ldapEndlessEntries, ldapTarpit, truetaskDrip } = await import('../test/support/hostile-servers.ts');

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const log = (line: string) => console.error(`[bench] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs', namespace: 'default' };
type Cond = { type: string; status: string; reason: string };
type Obj = { metadata: { name: string }; status?: { nextSyncAt?: string; lastRun?: { at?: string }; conditions?: Cond[] } };

async function procStatus(pid: number): Promise<{ rss: number; hwm: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const mib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) / 1024;
  return { rss: mib('VmRSS'), hwm: mib('VmHWM') };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const api = await startApiServer();
const ad = await startSambaAD({ log: (l) => log(`samba: ${l}`) });
const sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], passwordHashCost: 16 });
const tarpit = await ldapTarpit();
const endless = await ldapEndlessEntries();
const drip = await truetaskDrip();
let ctl: ChildProcess | undefined;
const metricsPort = await freePort();

const startCtl = (): ChildProcess =>
  spawn(process.execPath, [main, 'controller', `--metrics-bind-address=127.0.0.1:${metricsPort}`, '--no-leader-elect', '--log-level=warn', '--namespaces=default'], {
    env: { ...process.env, KUBECONFIG: api.kubeconfigPath },
    stdio: 'ignore',
  });
const stopCtl = async () => {
  if (!ctl) return;
  const c = ctl;
  ctl = undefined;
  c.kill('SIGTERM');
  await new Promise((r) => c.once('exit', r));
};

try {
  await api.kubectl(['apply', '-f', 'crds/truetask.io_adsyncs.yaml']);
  await api.kubectl(['wait', '--for=condition=Established', 'crd/adsyncs.truetask.io']);
  const kc = kubeConfigFor(api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: 'default' })) await core.createNamespacedSecret({ namespace: 'default', body: s as never });
  const create = (name: string, over: Partial<Parameters<typeof adsyncObject>[0]>, interval = '1m') =>
    custom.createNamespacedCustomObject({ ...G, body: adsyncObject({ ad, truetaskUrl: sim.url, namespace: 'default', name, ...over, spec: { interval, ...over.spec } }) });
  const list = async () => ((await custom.listNamespacedCustomObject(G)) as { items: Obj[] }).items;

  // 1. healthy and hostile neighbours
  const plain = (url: string) => ({ url, tls: undefined, insecurePlaintext: true, timeoutSeconds: 60 });
  if (!values.baseline) {
    await create('hostile-tarpit', { ldap: plain(tarpit.url), spec: { timeout: '10s' } });
    await create('hostile-endless', { ldap: plain(endless.url), spec: { timeout: '10s' } });
    await create('hostile-drip', { truetaskUrl: drip.url, spec: { timeout: '10s' } });
  }
  for (let i = 0; i < HEALTHY; i++) await create(`healthy-${i}`, {});
  ctl = startCtl();
  const started = Date.now();
  const seen = new Map<string, { due?: number; at?: string }>();
  const lateness: number[] = [];
  let peakRss = 0;
  const rssSamples: number[] = [];
  log(`${HEALTHY} healthy + ${values.baseline ? 0 : 3} hostile AdSyncs, watching for ${MINUTES} min`);
  while (Date.now() - started < MINUTES * 60_000) {
    for (const o of await list()) {
      const name = o.metadata.name;
      if (!name.startsWith('healthy-')) continue;
      const prev = seen.get(name) ?? {};
      const at = o.status?.lastRun?.at;
      // a new run: how long after it was due did it complete?
      if (at && at !== prev.at && prev.due !== undefined) lateness.push((Date.parse(at) - prev.due) / 1000);
      seen.set(name, { at, ...(o.status?.nextSyncAt ? { due: Date.parse(o.status.nextSyncAt) } : {}) });
    }
    const p = await procStatus(ctl.pid ?? 0);
    peakRss = Math.max(peakRss, p.hwm);
    rssSamples.push(p.rss);
    await sleep(1000);
  }
  const hostileState = (await list())
    .filter((o) => o.metadata.name.startsWith('hostile-'))
    .map((o) => `${o.metadata.name}: ${o.status?.conditions?.find((c) => c.type === 'Ready')?.reason ?? '?'} (${o.status?.conditions?.find((c) => c.type === 'Reconciling')?.reason ?? 'no retry'}, next ${o.status?.nextSyncAt ?? '-'})`);
  const sorted = [...lateness].sort((a, b) => a - b);
  const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const rows: Array<[string, string]> = [
    [`healthy runs due and completed (${HEALTHY} AdSyncs${values.baseline ? ', no hostile ones' : ' + 3 hostile'}, ${MINUTES} min)`, String(lateness.length)],
    ['lateness after due: median / p95 / worst (run time included)', `${pct(0.5).toFixed(1)} s / ${pct(0.95).toFixed(1)} s / ${(sorted.at(-1) ?? NaN).toFixed(1)} s`],
    ['hostile AdSyncs', hostileState.join('; ')],
    ['controller RSS: last / peak', `${(rssSamples.at(-1) ?? NaN).toFixed(0)} MiB / ${peakRss.toFixed(0)} MiB`],
  ];
  await stopCtl();

  // 2. many AdSyncs: first runs, a restart, idle API requests
  if (MANY > 0) {
    for (const o of await list()) await custom.deleteNamespacedCustomObject({ ...G, name: o.metadata.name });
    for (let i = 0; i < MANY; i++) await create(`many-${i}`, {}, '1h');
    ctl = startCtl();
    const t0 = Date.now();
    for (;;) {
      const items = await list();
      if (items.filter((o) => o.status?.lastRun?.at).length >= MANY) break;
      await sleep(1000);
    }
    rows.push([`${MANY} AdSyncs: all previewed once (2 workers, first start)`, `${((Date.now() - t0) / 1000).toFixed(1)} s`]);
    await stopCtl();
    ctl = startCtl();
    const t1 = Date.now();
    for (;;) {
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text(), () => '');
      if (text.split('\n').filter((l) => l.startsWith('truetask_adsync_interval_seconds{')).length >= MANY) break;
      await sleep(200);
    }
    rows.push([`${MANY} AdSyncs: reconciled all after a restart (nothing due)`, `${((Date.now() - t1) / 1000).toFixed(1)} s`]);
    await sleep(10_000);
    const requests = async () => {
      const r = await api.kubectl(['get', '--raw', '/metrics']);
      let n = 0;
      for (const line of r.stdout.split('\n')) {
        if (!line.startsWith('apiserver_request_total{')) continue;
        if (/resource="(adsyncs|secrets|events|leases)"/.test(line)) n += Number(line.split(' ').pop());
      }
      return n;
    };
    const before = await requests();
    await sleep(60_000);
    const after = await requests();
    const p = await procStatus(ctl.pid ?? 0);
    rows.push([`${MANY} AdSyncs: API requests per minute while idle (adsyncs, secrets, events, leases)`, String(after - before)]);
    rows.push([`${MANY} AdSyncs: controller RSS idle / peak`, `${p.rss.toFixed(0)} MiB / ${p.hwm.toFixed(0)} MiB`]);
    await stopCtl();
  }
  console.log('| measure | value |\n|---|---|');
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
} finally {
  await stopCtl();
  await tarpit.close();
  await endless.close();
  await drip.close();
  await sim.close();
  await ad.stop();
  await api.stop();
}
