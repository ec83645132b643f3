/**
 * Benchmarks (`npm run bench`; never timed assertions in tests):
 *  1. `adsync preview` against a large seeded Samba AD: wall time and peak RSS,
 *     next to `ldapsearch` reading the same entries with the same filter and page size;
 *  2. `adsync sync --confirm` of that directory into the simulator, then an idle re-sync;
 *     then the leavers report (bench/leavers.ts) after disabling up to 1,000 users;
 *  3. the operator: time from setting truetask.io/sync-now to the status being
 *     updated, and the controller process's idle memory.
 *   node bench/run.ts [--users 10000] [--skip-controller]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseCliOrExit, usageError } from '../src/util/cli-args.ts';

const values = parseCliOrExit({
  program: 'bench',
  usage: `usage: npm run bench -- [--users N] [--skip-controller]

Benchmarks (never timed assertions in tests): adsync preview of a seeded Samba AD next
to ldapsearch, sync --confirm and an idle re-sync into the simulator, and the operator's
sync-now latency and idle memory. Prints the numbers.

  --users N           generated users on top of the fixture (default 10000)
  --skip-controller   leave out the operator benchmarks (no kube-apiserver)
  -h, --help          print this help
`,
  options: { users: { type: 'string', default: '10000' }, 'skip-controller': { type: 'boolean', default: false } },
});
if (!/^[0-9]+$/.test(values.users)) usageError(`bench: --users must be a whole number, got ${JSON.stringify(values.users)}`);
const extra = Number(values.users);

// Loaded once the arguments are known to be good (--help and bad flags answer at once).
const { CustomObjectsApi, CoreV1Api, PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
const { startTruetaskSimulator } = await import('../src/truetask-sim/server.ts');
const { kubeConfigFor, startApiServer } = await import('../test/support/kube-apiserver.ts');
const { startSambaAD } = await import('../test/support/samba.ts');
const { adsyncObject, scenarioYaml, secretObjects, TOKEN, TOKEN_NAME } = await import('../test/support/scenario.ts');
const run = promisify(execFile);
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const DEFAULT_FILTER = '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))';
const PAGE = 500;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Runs a command under GNU time; returns wall seconds and peak RSS (MiB). */
async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ wall: number; rssMiB: number; stdout: string }> {
  const { stdout, stderr } = await run('/usr/bin/time', ['-f', 'BENCH %e %M', cmd, ...args], { env: { ...process.env, ...env }, maxBuffer: 512 * 1024 * 1024 });
  const m = /BENCH ([\d.]+) (\d+)/.exec(stderr);
  if (!m) throw new Error(`no timing from ${cmd}: ${stderr.slice(-500)}`);
  return { wall: Number(m[1]), rssMiB: Number(m[2]) / 1024, stdout };
}

console.log(`seeding / starting Samba AD with the fixture + ${extra} generated users (cached after the first time)...`);
const t0 = Date.now();
const ad = await startSambaAD({ extraGeneratedUsers: extra, startTimeoutMs: 300_000 });
console.log(`AD ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${ad.timings.fromCache ? 'cached template' : 'fresh'}): ${ad.ldapsUrl}`);
const sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
const work = await mkdtemp(join(tmpdir(), 'adsync-bench-'));
try {
  const file = join(work, 'corp.yaml');
  await writeFile(file, scenarioYaml({ ad, truetaskUrl: sim.url, ldap: { pageSize: PAGE } }));
  const pwFile = join(work, 'pw');
  await writeFile(pwFile, ad.bindPassword, { mode: 0o600 });

  // 1. preview vs ldapsearch, 3 runs each
  const previews = [];
  for (let i = 0; i < 3; i++) previews.push(await timed(process.execPath, [main, 'preview', '-f', file, '-o', 'json']));
  const summary = (JSON.parse(previews[0]!.stdout) as { summary: Record<string, number> }).summary;
  const searches = [];
  for (let i = 0; i < 3; i++) {
    searches.push(
      await timed('ldapsearch', ['-LLL', '-H', ad.ldapsUrl, '-x', '-D', ad.bindUPN, '-y', pwFile, '-b', ad.baseDN, '-E', `pr=${PAGE}/noprompt`, DEFAULT_FILTER, 'userPrincipalName', 'displayName', 'givenName', 'sn', 'cn'], {
        LDAPTLS_CACERT: ad.caPath,
        LDAPTLS_REQCERT: 'allow', // the DC's certificate names dc1.corp.example.com, we connect by IP
      }),
    );
  }
  const entries = (searches[0]!.stdout.match(/^dn::? /gm) ?? []).length;
  console.log(`\npreview of ${summary.directoryUsers! + summary.excluded! + summary.skipped!} entries (${entries} via ldapsearch), page size ${PAGE}, 3 runs:`);
  console.log(`  adsync preview : median ${median(previews.map((p) => p.wall)).toFixed(2)} s, peak RSS ${median(previews.map((p) => p.rssMiB)).toFixed(0)} MiB (whole process, incl. Node.js)`);
  console.log(`  ldapsearch     : median ${median(searches.map((p) => p.wall)).toFixed(2)} s, peak RSS ${median(searches.map((p) => p.rssMiB)).toFixed(0)} MiB`);

  // 2. sync, then an idle re-sync
  const sync = await timed(process.execPath, [main, 'sync', '-f', file, '--confirm', '-o', 'json', '--log-level', 'warn']);
  const resync = await timed(process.execPath, [main, 'sync', '-f', file, '--confirm', '-o', 'json', '--log-level', 'warn']);
  const r1 = (JSON.parse(sync.stdout) as { result: { created: number } }).result;
  const r2 = (JSON.parse(resync.stdout) as { result: { created: number } }).result;
  console.log(`\nsync --confirm : ${r1.created} created in ${sync.wall.toFixed(2)} s (${(r1.created / sync.wall).toFixed(0)} users/s, concurrency 4), peak RSS ${sync.rssMiB.toFixed(0)} MiB`);
  console.log(`re-sync        : ${r2.created} created in ${resync.wall.toFixed(2)} s (${sim.audit().length} writes in the audit log in all)`);

  // 2b. the leavers report (bench/leavers.ts): its extra LDAP search, and no Truetask request of its own
  const { benchLeavers } = await import('./leavers.ts');
  console.log(`\n${(await benchLeavers({ ad, sim, file, main, timed, extraGeneratedUsers: extra, pageSize: PAGE, disable: Math.min(1000, extra + 250) })).join('\n')}`);

  // 3. the operator
  if (!values['skip-controller']) {
    const api = await startApiServer();
    try {
      await api.kubectl(['apply', '-f', 'crds/truetask.io_adsyncs.yaml']);
      await api.kubectl(['wait', '--for=condition=Established', 'crd/adsyncs.truetask.io']);
      const kc = kubeConfigFor(api);
      const core = kc.makeApiClient(CoreV1Api);
      const custom = kc.makeApiClient(CustomObjectsApi);
      const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs', namespace: 'default' };
      for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: 'default' })) await core.createNamespacedSecret({ namespace: 'default', body: s as never });
      const ctl = spawn(process.execPath, [main, 'controller', '--metrics-bind-address=127.0.0.1:0', '--no-leader-elect', '--log-level=warn'], {
        env: { ...process.env, KUBECONFIG: api.kubeconfigPath },
        stdio: 'ignore',
      });
      try {
        const rss = async () => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${ctl.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
        await custom.createNamespacedCustomObject({ ...G, body: adsyncObject({ ad, truetaskUrl: sim.url, namespace: 'default', ldap: { pageSize: PAGE } }) });
        const status = async () => ((await custom.getNamespacedCustomObject({ ...G, name: 'corp' })) as { status?: { lastHandledSyncNow?: string; preview?: unknown } }).status;
        while (!(await status())?.preview) await new Promise((r) => setTimeout(r, 100));
        const idleBefore = await rss();
        const lat: number[] = [];
        for (let i = 0; i < 5; i++) {
          const value = `bench-${i}`;
          const t = performance.now();
          await custom.patchNamespacedCustomObject({ ...G, name: 'corp', body: { metadata: { annotations: { 'truetask.io/sync-now': value } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
          while ((await status())?.lastHandledSyncNow !== value) await new Promise((r) => setTimeout(r, 20));
          lat.push((performance.now() - t) / 1000);
        }
        // idle: let the heap settle after the runs
        await new Promise((r) => setTimeout(r, 5000));
        console.log(`\noperator (Preview of the same directory, ${extra + 250} generated users):`);
        console.log(`  sync-now -> status updated: median ${median(lat).toFixed(2)} s over 5 runs (min ${Math.min(...lat).toFixed(2)}, max ${Math.max(...lat).toFixed(2)})`);
        console.log(`  controller RSS: ${idleBefore.toFixed(0)} MiB after the first preview, ${(await rss()).toFixed(0)} MiB idle after 5 more runs`);
      } finally {
        ctl.kill('SIGTERM');
        await new Promise((r) => ctl.once('exit', r));
      }
      // idle memory with nothing to do
      const idle = spawn(process.execPath, [main, 'controller', '--metrics-bind-address=127.0.0.1:0', '--no-leader-elect', '--namespaces=kube-system', '--log-level=warn'], {
        env: { ...process.env, KUBECONFIG: api.kubeconfigPath },
        stdio: 'ignore',
      });
      await new Promise((r) => setTimeout(r, 5000));
      const idleRss = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${idle.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      console.log(`  controller RSS with no AdSync to watch: ${idleRss.toFixed(0)} MiB`);
      idle.kill('SIGTERM');
      await new Promise((r) => idle.once('exit', r));
    } finally {
      await api.stop();
    }
  }
} finally {
  await sim.close();
  await ad.stop();
}
