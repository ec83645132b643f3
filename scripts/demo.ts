/**
 * The demo (`bash scripts/demo.sh`): a real kube-apiserver, a seeded Samba AD,
 * the Truetask simulator and the operator, on this machine. Installs the CRD,
 * applies an AdSync in Preview mode, shows the preview (also with `adsync preview
 * NAMESPACE/NAME`), switches it to Sync, where the create safeguard holds the plan
 * until it is approved (`adsync approve`), and shows the users appear in Truetask
 * and the metrics move.
 *
 * Ctrl-C (or the end, without --keep) stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TruetaskSimulator } from '../src/truetask-sim/server.ts';
import type { ApiServer } from '../test/support/kube-apiserver.ts';
import type { SambaAD } from '../test/support/samba.ts';
import { parseCliOrExit } from '../src/util/cli-args.ts';

// The same options and text as scripts/demo.sh, which checks them before it installs anything.
const { keep } = parseCliOrExit({
  program: 'demo',
  usage: `usage: bash scripts/demo.sh [--keep]

The demo: a real kube-apiserver, a seeded Samba AD, the Truetask simulator and the
operator on this machine; an AdSync in Preview mode, then Sync. Installs what it needs
the first time.

  --keep       leave everything running until Ctrl-C
  -h, --help   print this help
`,
  options: { keep: { type: 'boolean', default: false } },
});

// Loaded once the arguments are known to be good (--help and bad flags answer at once).
const { stringify } = await import('yaml');
const { startTruetaskSimulator } = await import('../src/truetask-sim/server.ts');
const { startApiServer } = await import('../test/support/kube-apiserver.ts');
const { startSambaAD } = await import('../test/support/samba.ts');
const { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } = await import('../test/support/scenario.ts');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`==> ${s}`)}`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

let api: ApiServer | undefined;
let ad: SambaAD | undefined;
let sim: TruetaskSimulator | undefined;
let controller: ChildProcess | undefined;
let work: string | undefined;
let stopping = false;

async function cleanup(): Promise<void> {
  if (stopping) return;
  stopping = true;
  step('Stopping everything the demo started');
  if (controller && controller.exitCode === null) {
    controller.kill('SIGTERM');
    await new Promise((resolve) => controller!.once('exit', resolve));
  }
  await sim?.close().catch(() => undefined);
  await ad?.stop().catch(() => undefined);
  await api?.stop().catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
  console.log('done: nothing left running.');
}

process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await api!.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function show(args: string[]): Promise<void> {
  console.log(`$ kubectl ${args.join(' ')}`);
  console.log((await kubectl(args)).trimEnd());
}

async function main(): Promise<void> {
  work = await mkdtemp(join(tmpdir(), 'adsync-demo-'));

  step(`Starting a real kube-apiserver + etcd (built once into ~/.cache) [${elapsed()}]`);
  api = await startApiServer();
  console.log(`API server ${api.server}; kubeconfig ${api.kubeconfigPath}`);

  step(`Starting a Samba AD domain controller seeded with a small company [${elapsed()}]`);
  ad = await startSambaAD();
  console.log(`AD ${ad.ldapsUrl} (DC ${ad.dcHostname}), base DN ${ad.baseDN}`);

  step(`Starting the Truetask simulator [${elapsed()}]`);
  sim = await startTruetaskSimulator({
    tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }],
    users: [
      { email: 'owner@corp.example.com', name: 'The Owner', role: 'owner' },
      // People who left: disabled in AD (Annie Easley), or deleted from it; and an invited contractor.
      { email: 'annie.easley@corp.example.com', name: 'Annie Easley', role: 'user' },
      { email: 'old.hire@corp.example.com', name: 'Old Hire', role: 'admin' },
      { email: 'contractor@partner.example.org', name: 'Invited Contractor', role: 'user' },
    ],
  });
  console.log(`Truetask ${sim.url} (4 users: the owner, two people who left the company, an invited contractor)`);

  step(`Installing the CRD and starting the operator [${elapsed()}]`);
  await show(['apply', '-f', 'crds/truetask.io_adsyncs.yaml']);
  await kubectl(['wait', '--for=condition=Established', 'crd/adsyncs.truetask.io', '--timeout=60s']);
  await kubectl(['create', 'namespace', 'truetask']);
  const log = await open(join(work, 'controller.log'), 'w');
  controller = spawn(process.execPath, ['src/cli/main.ts', 'controller', '--metrics-bind-address=127.0.0.1:0', '--no-leader-elect', '--namespaces=truetask'], {
    env: { ...process.env, KUBECONFIG: api.kubeconfigPath, METRICS_BIND_ADDRESS: '127.0.0.1:0' },
    stdio: ['ignore', log.fd, log.fd],
  });
  console.log(`operator running (pid ${controller.pid}); its JSON logs: ${join(work, 'controller.log')}`);

  step(`Applying an AdSync in Preview mode, with its Secrets [${elapsed()}]`);
  // spec.safeguard: {}: the product's defaults (the test scenario turns it off).
  const opts = { ad, truetaskUrl: sim.url, namespace: 'truetask', spec: { interval: '6h', safeguard: {} } };
  const manifest = [adsyncObject(opts), ...secretObjects(opts)].map((d) => stringify(d)).join('---\n');
  await writeFile(join(work, 'corp.yaml'), manifest);
  await show(['apply', '-f', join(work, 'corp.yaml')]);
  await kubectl(['wait', '--for=condition=Ready', 'adsync/corp', '-n', 'truetask', '--timeout=120s']);
  await show(['get', 'adsyncs', '-n', 'truetask']);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'jsonpath={.status.preview.toCreate} to create, {.status.preview.toPromote} to promote; first planned: {.status.preview.users[0:3]}{"\\n"}']);
  console.log(`Truetask audit log entries so far: ${sim.audit().length} (Preview writes nothing)`);

  step(`Reviewing every change from the cluster: adsync preview NAMESPACE/NAME [${elapsed()}]`);
  console.log('$ adsync preview truetask/corp    (first lines)');
  const preview = await runCli(['preview', 'truetask/corp'], api.kubeconfigPath);
  console.log(preview.split('\n').slice(0, 12).join('\n'));

  step(`Switching to mode: Sync: more creates than spec.safeguard allows, so nothing is written until approved [${elapsed()}]`);
  await show(['patch', 'adsync', 'corp', '-n', 'truetask', '--type=merge', '-p', '{"spec":{"mode":"Sync"}}']);
  await kubectl(['wait', '--for=condition=Stalled', 'adsync/corp', '-n', 'truetask', '--timeout=180s']);
  await show(['get', 'adsyncs', '-n', 'truetask']);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'jsonpath={.status.pendingApproval.message}{"\\n"}']);
  console.log(`Truetask audit log entries so far: ${sim.audit().length} (a held plan writes nothing)`);

  step(`Approving exactly the reviewed plan [${elapsed()}]`);
  console.log('$ adsync approve truetask/corp --yes    (first lines)');
  const approved = await runCli(['approve', 'truetask/corp', '--yes'], api.kubeconfigPath);
  const lines = approved.trimEnd().split('\n');
  console.log([...lines.slice(0, 8), '...', ...lines.slice(-1)].join('\n'));
  await kubectl(['wait', '--for=condition=Synced', 'adsync/corp', '-n', 'truetask', '--timeout=180s']);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'jsonpath={.status.lastApproved}{"\\n"}']);
  await show(['get', 'adsyncs', '-n', 'truetask']);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'jsonpath={.status.lastSync}{"\\n"}']);
  const audit = sim.audit();
  console.log(`\nTruetask audit log: ${audit.length} writes, e.g.`);
  for (const a of audit.slice(0, 5)) console.log(`  ${a.at} ${a.method} ${a.email} ${JSON.stringify(a.change)} by token "${a.token}"`);
  const admins = sim.users().filter((u) => u.role === 'admin').map((u) => u.email);
  console.log(`Admins in Truetask now: ${admins.join(', ')}`);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'custom-columns=CONDITION:.status.conditions[*].type,STATUS:.status.conditions[*].status,REASON:.status.conditions[*].reason']);
  await show(['get', 'events', '-n', 'truetask', '--field-selector', 'involvedObject.name=corp', '-o', 'custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message']);

  step(`The leavers report: active in Truetask, disabled in AD or gone from it (read-only) [${elapsed()}]`);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'jsonpath={.status.leavers.disabled} disabled, {.status.leavers.notInDirectory} not in the directory, stale={.status.leavers.stale}{"\\n"}{range .status.leavers.users[*]}  {.reason}  {.email}  {.role}{"\\n"}{end}']);
  console.log(`$ adsync report leavers -f ${join(work, 'corp.yaml')}`);
  const report = await runCli(['report', 'leavers', '-f', join(work, 'corp.yaml')]);
  console.log(report.trimEnd());
  console.log('Nobody was changed or removed in Truetask because of it: people decide what to do with them.');

  step('The metrics moved');
  const url = await controllerMetricsUrl(join(work, 'controller.log'));
  const text = await (await fetch(`${url}/metrics`)).text();
  console.log(text.split('\n').filter((l) => /^truetask_adsync_(users_created_total|ready|directory_users|runs_total|planned_users|leavers|pending_approval)/.test(l)).join('\n'));

  console.log(`\n${bold(`Demo complete in ${elapsed()}: ${audit.filter((a) => a.change.op === 'create').length} users created in Truetask.`)}`);
  if (keep) {
    console.log(`Still running (--keep). export KUBECONFIG=${api.kubeconfigPath}; kubectl from ${api.binDir}. Ctrl-C to stop everything.`);
    await new Promise(() => undefined);
  }
}

/** Runs the adsync CLI (as a user would: node src/cli/main.ts); returns its stdout. */
async function runCli(args: string[], kubeconfig = '/nonexistent'): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['src/cli/main.ts', ...args], { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`adsync ${args.join(' ')} failed: ${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The operator logs where it serves /metrics (it was asked for a free port). */
async function controllerMetricsUrl(logPath: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  for (const line of (await readFile(logPath, 'utf8')).split('\n')) {
    try {
      const j = JSON.parse(line) as { metrics?: string };
      if (j.metrics) return j.metrics;
    } catch {
      // not JSON
    }
  }
  throw new Error('the operator did not log its metrics address');
}

try {
  await main();
  await cleanup();
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  await cleanup();
  process.exitCode = 1;
}
