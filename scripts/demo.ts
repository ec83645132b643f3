/**
 * The demo (`bash scripts/demo.sh`): what a user does, on this machine. A real
 * single-node cluster (scripts/cluster/up.sh, in its own network namespace), a
 * seeded Samba AD running in that namespace and the Truetask simulator (served
 * there at an address of its own), the operator installed with its Helm chart and running as
 * pods. Applies an AdSync in Preview mode, shows the preview (also every change
 * with `adsync preview NAMESPACE/NAME`), switches it to Sync, where the create
 * safeguard holds the plan until it is approved (`adsync approve`), and shows the
 * users appear in Truetask, the leavers, the events and the metrics.
 *
 * Ctrl-C (or the end, without --keep) stops everything it started.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TruetaskSimulator } from '../src/truetask-sim/server.ts';
import type { ClusterLease, ClusterRelay } from '../test/support/cluster.ts';
import type { SambaAD } from '../test/support/samba.ts';
import { parseCliOrExit } from '../src/util/cli-args.ts';

// The same options and text as scripts/demo.sh, which checks them before it installs anything.
const { keep } = parseCliOrExit({
  program: 'demo',
  usage: `usage: bash scripts/demo.sh [--keep]

The demo: a real single-node cluster, a seeded Samba AD, the Truetask simulator and the
operator installed with its Helm chart, running as pods; an AdSync in Preview mode, then
Sync. Installs and builds what it needs the first time.

  --keep       leave everything running until Ctrl-C
  -h, --help   print this help
`,
  options: { keep: { type: 'boolean', default: false } },
});

// Loaded once the arguments are known to be good (--help and bad flags answer at once).
const { stringify } = await import('yaml');
const { startTruetaskSimulator } = await import('../src/truetask-sim/server.ts');
const { acquireCluster, relayIntoCluster, CLUSTER_NETNS } = await import('../test/support/cluster.ts');
const { startSambaAD } = await import('../test/support/samba.ts');
const { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } = await import('../test/support/scenario.ts');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`==> ${s}`)}`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

let cluster: ClusterLease | undefined;
let ad: SambaAD | undefined;
let sim: TruetaskSimulator | undefined;
const relays: ClusterRelay[] = [];
let installed = false;
let work: string | undefined;
let stopping = false;

async function cleanup(): Promise<void> {
  if (stopping) return;
  stopping = true;
  step('Stopping everything the demo started');
  // A cluster the demo brought up goes down whole; one that was already up gets back what it had.
  if (installed && cluster?.reused) {
    await run(join(cluster!.toolsBinDir, 'helm'), ['uninstall', 'adsync', '-n', 'adsync-system', '--wait']).catch(() => undefined);
    await kubectl(['delete', 'namespace', 'truetask', 'adsync-system', '--wait=true']).catch(() => undefined);
    await kubectl(['delete', 'crd', 'adsyncs.truetask.io', '--ignore-not-found']).catch(() => undefined);
  }
  for (const r of relays) await r.close().catch(() => undefined);
  await sim?.close().catch(() => undefined);
  await ad?.stop().catch(() => undefined);
  // Takes the cluster down unless it was already up (then it is left as it was).
  await cluster?.release({ down: !cluster.reused }).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
  console.log('done: nothing left running.');
}

process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

async function run(cmd: string, args: string[]): Promise<string> {
  const { runCommand } = await import('../test/support/run-command.ts');
  const r = await runCommand(cmd, args, { env: { ...process.env, KUBECONFIG: cluster!.kubeconfigPath }, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function kubectl(args: string[]): Promise<string> {
  return run(join(cluster!.kubeBinDir, 'kubectl'), args);
}

async function show(args: string[]): Promise<void> {
  console.log(`$ kubectl ${args.join(' ')}`);
  console.log((await kubectl(args)).trimEnd());
}

async function main(): Promise<void> {
  work = await mkdtemp(join(tmpdir(), 'adsync-demo-'));

  step(`Bringing up a single-node Kubernetes cluster in its own network namespace (built once into ~/.cache) [${elapsed()}]`);
  cluster = await acquireCluster();
  console.log(`cluster ${cluster.reused ? 'already up' : 'up'} in ${(cluster.upMs / 1000).toFixed(1)}s; export KUBECONFIG=${cluster.kubeconfigPath}`);
  // The DC starts inside the cluster's network namespace while the chart installs.
  const adStarting = startSambaAD({ netns: CLUSTER_NETNS }).then((started) => (ad = started));
  adStarting.catch(() => undefined);
  await show(['get', 'nodes', '-o', 'wide']);

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

  // The pods reach the simulator at an address of its own inside the cluster's network namespace.
  const simUrl = new URL(sim.url);
  const simRelay = await relayIntoCluster({ host: simUrl.hostname, port: Number(simUrl.port) }, { port: 80 });
  relays.push(simRelay);
  console.log(`pods reach it at http://${simRelay.host}:${simRelay.port} (network namespace ${CLUSTER_NETNS})`);

  step(`Installing the operator with its Helm chart (image imported into the cluster, no registry) [${elapsed()}]`);
  installed = true;
  await kubectl(['delete', 'crd', 'adsyncs.truetask.io', '--ignore-not-found', '--wait=true']);
  await kubectl(['create', 'namespace', 'adsync-system']);
  await kubectl(['label', 'namespace', 'adsync-system', 'pod-security.kubernetes.io/enforce=restricted']);
  console.log('$ helm install adsync charts/truetask-adsync -n adsync-system --set image.pullPolicy=Never --set metrics.service.enabled=true --wait');
  await run(join(cluster.toolsBinDir, 'helm'), ['install', 'adsync', 'charts/truetask-adsync', '-n', 'adsync-system', '--set', 'image.pullPolicy=Never', '--set', 'metrics.service.enabled=true', '--wait', '--timeout', '180s']);
  await show(['get', 'pods', '-n', 'adsync-system', '-o', 'wide']);
  await show(['get', 'lease', '-n', 'adsync-system']);

  step(`The Samba AD domain controller, seeded with a small company, inside the cluster's network namespace [${elapsed()}]`);
  const dc = await adStarting;
  console.log(`AD ldaps://${dc.inNetns?.ip}:636 (DC ${dc.dcHostname}), base DN ${dc.baseDN}; from the host: ${dc.ldapsUrl}`);
  await kubectl(['create', 'namespace', 'truetask']);

  step(`Applying an AdSync in Preview mode, with its Secrets [${elapsed()}]`);
  // spec.safeguard: {}: the product's defaults (the test scenario turns it off).
  const opts = { ad: dc, truetaskUrl: `http://${simRelay.host}:${simRelay.port}`, namespace: 'truetask', spec: { interval: '6h', safeguard: {} }, ldap: { url: dc.inNetns?.ldapsUrl ?? '' } };
  // The Secrets first, as a user applies them: the AdSync's first run finds them.
  const manifest = [...secretObjects(opts), adsyncObject(opts)].map((d) => stringify(d)).join('---\n');
  await writeFile(join(work, 'corp.yaml'), manifest);
  await show(['apply', '-f', join(work, 'corp.yaml')]);
  await kubectl(['wait', '--for=condition=Ready', 'adsync/corp', '-n', 'truetask', '--timeout=120s']);
  await show(['get', 'adsyncs', '-n', 'truetask', '-o', 'wide']);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'jsonpath={.status.preview.toCreate} to create, {.status.preview.toPromote} to promote; first planned: {.status.preview.users[0:3]}{"\\n"}']);
  console.log(`Truetask audit log entries so far: ${sim.audit().length} (Preview writes nothing)`);

  // The CLI runs where the DC is reachable (inside the cluster's network namespace), reading the AdSync and its Secrets from the cluster.
  const inCluster = join(dirname(cluster.kubeconfigPath), 'admin-in-netns.kubeconfig');
  step(`Reviewing every change from the cluster: adsync preview NAMESPACE/NAME [${elapsed()}]`);
  console.log('$ adsync preview truetask/corp    (first lines)');
  const preview = await runCli(['preview', 'truetask/corp'], inCluster);
  console.log(preview.split('\n').slice(0, 12).join('\n'));

  step(`Switching to mode: Sync: more creates than spec.safeguard allows, so nothing is written until approved [${elapsed()}]`);
  await show(['patch', 'adsync', 'corp', '-n', 'truetask', '--type=merge', '-p', '{"spec":{"mode":"Sync"}}']);
  await kubectl(['wait', '--for=condition=Stalled', 'adsync/corp', '-n', 'truetask', '--timeout=180s']);
  await show(['get', 'adsyncs', '-n', 'truetask']);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'jsonpath={.status.pendingApproval.message}{"\\n"}']);
  console.log(`Truetask audit log entries so far: ${sim.audit().length} (a held plan writes nothing)`);

  step(`Approving exactly the reviewed plan [${elapsed()}]`);
  console.log('$ adsync approve truetask/corp --yes    (first lines)');
  const approved = await runCli(['approve', 'truetask/corp', '--yes'], inCluster);
  const lines = approved.trimEnd().split('\n');
  console.log([...lines.slice(0, 8), '...', ...lines.slice(-1)].join('\n'));
  await kubectl(['wait', '--for=condition=Synced', 'adsync/corp', '-n', 'truetask', '--timeout=180s']);
  await show(['get', 'adsync', 'corp', '-n', 'truetask', '-o', 'jsonpath={.status.lastApproved}{"\\n"}']);
  await show(['get', 'adsyncs', '-n', 'truetask', '-o', 'wide']);
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

  step('The metrics moved (scraped from the leader pod through the API server)');
  const holder = (await kubectl(['get', 'lease', '-n', 'adsync-system', 'adsync-truetask-adsync-leader', '-o', 'jsonpath={.spec.holderIdentity}'])).replace(/_[^_]*$/, '');
  const text = await kubectl(['get', '--raw', `/api/v1/namespaces/adsync-system/pods/${holder}:8080/proxy/metrics`]);
  console.log(text.split('\n').filter((l) => /^truetask_adsync_(users_created_total|ready|directory_users|runs_total|planned_users|leavers|pending_approval)/.test(l)).join('\n'));

  console.log(`\n${bold(`Demo complete in ${elapsed()}: ${audit.filter((a) => a.change.op === 'create').length} users created in Truetask.`)}`);
  if (keep) {
    console.log(`Still running (--keep). export KUBECONFIG=${cluster.kubeconfigPath}; kubectl and helm from ${cluster.kubeBinDir}:${cluster.toolsBinDir}. Ctrl-C to stop everything.`);
    await new Promise(() => undefined);
  }
}

/** Runs the adsync CLI (as a user would: node src/cli/main.ts); returns its stdout. */
async function runCli(args: string[], kubeconfig = '/nonexistent'): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    // Inside the cluster's network namespace: the file holds the addresses pods use.
    execFile('nsenter', [`--net=/run/netns/${CLUSTER_NETNS}`, process.execPath, 'src/cli/main.ts', ...args], { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`adsync ${args.join(' ')} failed: ${stderr}`));
      else resolve(stdout);
    });
  });
}

try {
  await main();
  await cleanup();
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  await cleanup();
  process.exitCode = 1;
}
