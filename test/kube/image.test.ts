// The shipped artifact, run the way a cluster runs it: the container image built from
// the project's Dockerfile (scripts/image/build.sh, cached), started with the options
// of deploy/base's Deployment (read by test/support/pod-run.ts from `kubectl kustomize`:
// user 65532, read-only root filesystem, all capabilities dropped, no privilege
// escalation, the default seccomp profile, the /tmp emptyDir, the memory limit, the
// args and env) on the host network, against a real kube-apiserver where deploy/base
// was applied for real: the operator finds a ServiceAccount token (TokenRequest), ca.crt
// and namespace at /var/run/secrets/kubernetes.io/serviceaccount and
// KUBERNETES_SERVICE_HOST/PORT, takes its in-cluster configuration and works under the
// shipped RBAC, with no impersonation. Its own API server (a fresh cluster), so that
// the cluster-wide operator sees only this file's AdSyncs.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthenticationV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { ensureImage, freePort, podman, startContainer, type RunningContainer } from '../support/image.ts';
import { kubeConfigFor, startApiServer, type ApiServer } from '../support/kube-apiserver.ts';
import { kubeError, waitFor } from '../support/kube-wait.ts';
import { podmanRunArgs, podRunSpec, type DeploymentLike, type PodRunInput, type PodRunSpec } from '../support/pod-run.ts';
import { adsyncObject, scenarioYaml, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';
import { repoRoot, runTool } from '../tools/bin.ts';

const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const APP_NS = 'corp-apps';

type Obj = { kind: string; metadata: { name: string; namespace?: string } };
interface Status {
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  lastSync?: { result: string; created: number; promoted: number; failed: number };
}

const rand = (n = 4) => randomBytes(n).toString('hex');
const deploymentOf = (text: string): DeploymentLike => {
  const d = parseAllDocuments(text)
    .map((doc) => doc.toJS() as Obj | null)
    .filter((o): o is Obj => o?.kind === 'Deployment');
  if (d.length !== 1) throw new Error(`expected one Deployment, found ${d.length}`);
  return d[0] as unknown as DeploymentLike;
};
const arg = (args: string[], flag: string) => args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
const envOf = (spec: PodRunSpec, name: string): string => {
  const e = spec.env.find(([k]) => k === name);
  if (!e) throw new Error(`the pod has no env ${name}`);
  return e[1];
};

describe('the container image, run as deploy/base runs the pod', () => {
  const ad = inject('ad');
  let image: string;
  let api: ApiServer;
  let admin: KubeConfig;
  let sim: TruetaskSimulator;
  let spec: PodRunSpec;
  let input: PodRunInput;
  let work: string;
  let container: RunningContainer | undefined;
  const containerName = `adsync-pod-${rand()}`;
  const podName = `truetask-adsync-${rand(5)}-${rand(3)}`;
  const secretValues: string[] = [];

  /** The image with the pod's security options, running a one-shot command instead of the controller. */
  const runOnce = (args: string[], mounts: Array<{ source: string; target: string }> = []) =>
    podman(podmanRunArgs(spec, { image, name: `adsync-cli-${rand()}`, hostname: podName, args, mounts }), { timeoutMs: 180_000 });

  beforeAll(async () => {
    image = await ensureImage();
    work = await mkdtemp(join(tmpdir(), 'adsync-image-'));
    api = await startApiServer();
    admin = kubeConfigFor(api);

    // deploy/base as `kubectl apply -k deploy/base` installs it: CRD, namespace, RBAC, Deployment
    // (inert here: no controller-manager, no kubelet; this test is the kubelet).
    const rendered = await api.kubectl(['kustomize', join(repoRoot, 'deploy', 'base')]);
    expect(rendered.code, rendered.stderr).toBe(0);
    const baseText = rendered.stdout;
    const applied = await api.kubectl(['apply', '-f', '-'], { input: baseText });
    expect(applied.code, applied.stderr).toBe(0);
    const established = await api.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/adsyncs.truetask.io']);
    expect(established.code, established.stderr).toBe(0);

    input = { podName, hostPorts: { metrics: await freePort() } };
    spec = podRunSpec(deploymentOf(baseText), input);

    sim = await startTruetaskSimulator({
      tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }],
      users: [{ email: 'owner@corp.example.com', name: 'The Owner', role: 'owner' }],
    });
    const ns = await api.kubectl(['create', 'namespace', APP_NS]);
    expect(ns.code, ns.stderr).toBe(0);
    const objects = [...secretObjects({ ad, truetaskUrl: sim.url, namespace: APP_NS }), adsyncObject({ ad, truetaskUrl: sim.url, namespace: APP_NS, mode: 'Sync' })];
    const created = await api.kubectl(['create', '-f', '-'], { input: objects.map((o) => stringify(o)).join('---\n') });
    expect(created.code, created.stderr).toBe(0);
    secretValues.push(ad.bindPassword, TOKEN);
  }, 50 * 60_000);

  afterAll(async () => {
    if (container) {
      await podman(['rm', '--force', '--time', '0', containerName]);
      await container.exited;
    }
    await sim?.close();
    await api?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('one source for the run options: deploy/base and the chart give the container the same flags, env and securityContext', async () => {
    const chart = await runTool('helm', ['template', 'truetask-adsync', join(repoRoot, 'charts', 'truetask-adsync'), '--namespace', 'truetask-adsync']);
    expect(chart.code, chart.stderr).toBe(0);
    expect(podRunSpec(deploymentOf(chart.stdout), input)).toEqual(spec);
    // What the test runs, spelled out (the restricted profile, the shipped flags).
    expect(spec).toMatchObject({
      user: 65532,
      group: 65532,
      supplementalGroups: [65532],
      readOnlyRootFilesystem: true,
      noNewPrivileges: true,
      dropCapabilities: ['ALL'],
      seccomp: 'RuntimeDefault',
      tmpfs: [{ path: '/tmp', sizeBytes: 16 * 2 ** 20 }],
      env: [['POD_NAMESPACE', 'truetask-adsync'], ['LOG_LEVEL', 'info']],
      serviceAccountName: 'truetask-adsync',
    });
    expect(spec.args).toEqual(['controller', `--metrics-bind-address=0.0.0.0:${spec.metricsPort}`, '--leader-election-id=truetask-adsync-leader']);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(10); // the SIGTERM test's bound fits in it
    // The comparison sees a difference in any of them.
    const debug = await runTool('helm', ['template', 'truetask-adsync', join(repoRoot, 'charts', 'truetask-adsync'), '--namespace', 'truetask-adsync', '--set', 'logLevel=debug']);
    expect(podRunSpec(deploymentOf(debug.stdout), input).env).toContainEqual(['LOG_LEVEL', 'debug']);
    expect(podRunSpec(deploymentOf(debug.stdout), input)).not.toEqual(spec);
  });

  it('the image: the entry point and user of the Dockerfile, production dependencies only, no sources, tests or npm cache', async () => {
    const inspected = await podman(['image', 'inspect', image]);
    expect(inspected.code, inspected.stderr).toBe(0);
    const [meta] = JSON.parse(inspected.stdout) as Array<{ Size: number; Config: { User: string; Entrypoint: string[]; Cmd: string[]; Env: string[]; ExposedPorts: Record<string, unknown> } }>;
    expect(meta!.Config).toMatchObject({ User: '65532:65532', Entrypoint: ['node', '/app/dist/cli/main.js'], Cmd: ['controller'], ExposedPorts: { '8080/tcp': {} } });
    expect(meta!.Config.Env).toContain('NODE_ENV=production');
    // The build's CA bundle argument (scripts/image/build.sh) stays in the build stage.
    expect(meta!.Config.Env.filter((e) => e.startsWith('NODE_EXTRA_CA_CERTS'))).toEqual([]);
    const history = await podman(['history', '--no-trunc', '--format', '{{.CreatedBy}}', image]);
    expect(history.stdout).toContain('ENTRYPOINT');
    expect(history.stdout).not.toContain('NODE_EXTRA_CA_CERTS');

    // What is in /app, seen from inside the image.
    const survey = `
      const fs = require('node:fs'), path = require('node:path');
      const files = [];
      const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else files.push([p, fs.lstatSync(p).size]); } };
      walk('/app');
      const top = {};
      for (const [p, size] of files) { const m = /^\\/app\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(p); if (m) top[m[1]] = (top[m[1]] ?? 0) + size; }
      console.log(JSON.stringify({
        app: fs.readdirSync('/app').sort(),
        files: files.map(([p]) => p),
        bytes: files.reduce((s, [, n]) => s + n, 0),
        largest: Object.entries(top).sort((a, b) => b[1] - a[1]).slice(0, 8),
        npmCaches: ['/root/.npm', '/home/node/.npm', '/app/.npm', '/tmp'].filter((d) => { try { return fs.readdirSync(d).length > 0; } catch { return false; } }),
      }));`;
    const r = await podman(['run', '--rm', '--network', 'none', '--entrypoint', 'node', image, '-e', survey]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { app: string[]; files: string[]; bytes: number; largest: Array<[string, number]>; npmCaches: string[] };
    expect(s.app).toEqual(['dist', 'node_modules', 'package.json']);
    expect(s.files.filter((f) => /\.(ts|mts|cts)$/.test(f))).toEqual([]);
    expect(s.files.filter((f) => /\/(test|tests|__tests__)\//.test(f) || f.startsWith('/app/test'))).toEqual([]);
    expect(s.npmCaches).toEqual([]);
    expect(s.files).toContain('/app/dist/cli/main.js');
    // No package the lockfile marks as dev-only.
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([p, v]) => p.startsWith('node_modules/') && v.dev === true).map(([p]) => `/app/${p}/`);
    expect(devOnly.length).toBeGreaterThan(50);
    expect(devOnly.filter((d) => s.files.some((f) => f.startsWith(d)))).toEqual([]);
    console.error(
      `[image] ${image.slice(0, 12)}: ${(meta!.Size / 1e6).toFixed(0)} MB in all; /app ${(s.bytes / 1e6).toFixed(1)} MB in ${s.files.length} files (${s.app.join(', ')}); ` +
        `largest node_modules: ${s.largest.map(([n, b]) => `${n} ${(b / 1e6).toFixed(1)} MB`).join(', ')}`,
    );
  });

  it('`adsync --version` from the image prints the version the chart and deploy/base name', async () => {
    const r = await runOnce(['--version']);
    expect(r.code, r.stderr).toBe(0);
    const version = (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    expect(r.stdout.trim()).toBe(version);
    const chart = parse(await readFile(join(repoRoot, 'charts', 'truetask-adsync', 'Chart.yaml'), 'utf8')) as { appVersion: string };
    expect(chart.appVersion).toBe(version);
    expect(spec.image).toBe(`ghcr.io/truetask/truetask-adsync:${version}`);
  });

  it('`adsync preview -f FILE` from the image reads AD, says who would be created, and writes nothing', async () => {
    const file = join(work, 'adsync.yaml');
    await writeFile(file, scenarioYaml({ ad, truetaskUrl: sim.url, namespace: APP_NS }));
    await chown(file, 0, spec.group);
    await chmod(file, 0o640);
    const r = await runOnce(['preview', '-f', '/etc/adsync/adsync.yaml', '-o', 'json'], [{ source: file, target: '/etc/adsync/adsync.yaml' }]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { summary: { directoryUsers: number; toCreate: number } };
    expect(out.summary.directoryUsers).toBeGreaterThan(250);
    expect(out.summary.toCreate).toBeGreaterThan(100);
    expect(sim.audit()).toEqual([]);
  });

  it('the pod: in-cluster configuration, the shipped RBAC, the Lease, the AdSync Synced, probes and metrics', { timeout: 300_000 }, async () => {
    // The ServiceAccount volume a kubelet mounts: a TokenRequest token, the cluster CA, the namespace.
    const namespace = envOf(spec, 'POD_NAMESPACE');
    const tokenR = await api.kubectl(['create', 'token', spec.serviceAccountName, '-n', namespace, '--duration=1h']);
    expect(tokenR.code, tokenR.stderr).toBe(0);
    const token = tokenR.stdout.trim();
    secretValues.push(token);
    // Group-readable by the pod's fsGroup, as a kubelet leaves a projected volume.
    const saDir = join(work, 'serviceaccount');
    await mkdir(saDir, { mode: 0o750 });
    await writeFile(join(saDir, 'token'), token);
    await writeFile(join(saDir, 'ca.crt'), await readFile(join(api.dir, 'ca.crt')));
    await writeFile(join(saDir, 'namespace'), namespace);
    for (const f of ['', 'token', 'ca.crt', 'namespace']) {
      await chown(join(saDir, f), 0, spec.group);
      if (f) await chmod(join(saDir, f), 0o640);
    }
    // The token is the ServiceAccount's, and it is held to the shipped RBAC.
    const asSa = tokenKubeConfig(api, token);
    const review = await asSa.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${namespace}:${spec.serviceAccountName}`);
    const listSecrets = await asSa.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: APP_NS }).then(() => undefined, kubeError);
    expect(listSecrets?.code).toBe(403);

    const apiPort = new URL(api.server).port;
    container = startContainer(
      podmanRunArgs(spec, {
        image,
        name: containerName,
        hostname: podName,
        extraEnv: [['KUBERNETES_SERVICE_HOST', '127.0.0.1'], ['KUBERNETES_SERVICE_PORT', apiPort]],
        mounts: [{ source: saDir, target: SA_DIR }],
      }),
    );
    const alive = () => (container!.child.exitCode === null ? true : Promise.reject(new Error(`the container exited (${container!.child.exitCode}):\n${container!.log()}`)));

    const leases = admin.makeApiClient(CoordinationV1Api);
    const custom = admin.makeApiClient(CustomObjectsApi);
    const core = admin.makeApiClient(CoreV1Api);
    const leaseName = arg(spec.args, '--leader-election-id')!;
    const holder = async () => (await leases.readNamespacedLease({ name: leaseName, namespace })).spec?.holderIdentity;
    // PID 1 in the container, on the pod's hostname.
    expect(await waitFor('the Lease', async () => (await alive()) && (await holder()) === `${podName}_1`, { timeoutMs: 60_000, intervalMs: 200 })).toBe(true);

    const synced = await waitFor(
      'the AdSync to be Synced',
      async () => {
        await alive();
        const o = (await custom.getNamespacedCustomObject({ ...G, namespace: APP_NS, name: 'corp' })) as { status?: Status };
        return o.status?.conditions?.find((c) => c.type === 'Synced')?.status === 'True' ? o.status : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    const conditions = Object.fromEntries((synced.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
    expect(conditions).toMatchObject({ Ready: 'True/Succeeded', DirectoryConnected: 'True/Connected', TruetaskConnected: 'True/Connected', Synced: 'True/Succeeded' });
    expect(synced.lastSync).toMatchObject({ result: 'Succeeded', failed: 0 });
    const creates = sim.audit().filter((a) => a.change.op === 'create');
    expect(creates).toHaveLength(synced.lastSync!.created);
    expect(creates.length).toBeGreaterThan(100);
    const events = await core.listNamespacedEvent({ namespace: APP_NS, fieldSelector: 'involvedObject.name=corp' });
    expect(events.items.map((e) => e.reason)).toContain('SyncSucceeded');

    // The probes and metrics, where the kubelet and Prometheus would look.
    const at = (path: string, port: number) => fetch(`http://127.0.0.1:${port}${path}`);
    const healthz = await at(spec.probes.liveness.path, spec.probes.liveness.port);
    const readyz = await waitFor('/readyz 200', async () => {
      const r = await at(spec.probes.readiness.path, spec.probes.readiness.port);
      return r.status === 200 ? r : undefined;
    });
    expect([healthz.status, (await healthz.text()).trim()]).toEqual([200, 'ok']);
    expect(readyz.status).toBe(200);
    const metrics = await (await at('/metrics', spec.metricsPort)).text();
    expect(metrics).toMatch(new RegExp(`^truetask_adsync_runs_total\\{[^}]*namespace="${APP_NS}"[^}]*name="corp"[^}]*\\} 1$`, 'm'));
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);

    // The kernel's view of the process: the user, no capabilities, no-new-privileges, seccomp filtering, a read-only root.
    const proc = await podman(['exec', containerName, 'node', '-e', `
      const s = require('node:fs').readFileSync('/proc/1/status', 'utf8');
      const f = (k) => new RegExp('^' + k + ':\\\\s*(.*)$', 'm').exec(s)[1].trim();
      let rootWrite = 'written';
      try { require('node:fs').writeFileSync('/app/probe', 'x'); } catch (e) { rootWrite = e.code; }
      console.log(JSON.stringify({ uid: f('Uid'), gid: f('Gid'), groups: f('Groups'), capEff: f('CapEff'), capBnd: f('CapBnd'), noNewPrivs: f('NoNewPrivs'), seccomp: f('Seccomp'), rootWrite }));`]);
    expect(proc.code, proc.stderr).toBe(0);
    const status = JSON.parse(proc.stdout) as Record<string, string>;
    expect(status).toEqual({
      uid: '65532\t65532\t65532\t65532',
      gid: '65532\t65532\t65532\t65532',
      groups: '65532',
      capEff: '0000000000000000',
      capBnd: '0000000000000000',
      noNewPrivs: '1',
      seccomp: '2',
      rootWrite: 'EROFS',
    });

    console.error(`[image] pod ${podName}: Lease ${namespace}/${leaseName} held by ${await holder()}; AdSync ${APP_NS}/corp ${JSON.stringify(conditions)}; lastSync ${JSON.stringify(synced.lastSync)}; ` +
      `${spec.probes.liveness.path} ${healthz.status}, ${spec.probes.readiness.path} ${readyz.status}; process ${JSON.stringify(status)}`);
  });

  it('`adsync preview NAMESPACE/NAME` from the image in the cluster, as the operator\'s service account (the README\'s kubectl run): every row, nothing written', async () => {
    // The ServiceAccount volume of the pod test above, and the in-cluster environment a kubelet gives any pod.
    const saDir = join(work, 'serviceaccount');
    const writes = sim.audit().length;
    const r = await podman(
      podmanRunArgs(spec, {
        image,
        name: `adsync-cli-${rand()}`,
        hostname: `adsync-preview-${rand(5)}`,
        args: ['preview', `${APP_NS}/corp`, '-o', 'json'],
        extraEnv: [['KUBERNETES_SERVICE_HOST', '127.0.0.1'], ['KUBERNETES_SERVICE_PORT', new URL(api.server).port]],
        mounts: [{ source: saDir, target: SA_DIR }],
      }),
      { timeoutMs: 180_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { summary: { directoryUsers: number; toCreate: number; unchanged: number }; users: unknown[] };
    expect(out.summary.directoryUsers).toBeGreaterThan(250);
    expect(out.summary.unchanged).toBeGreaterThan(100); // the pod synced them
    expect(out.users.length).toBeGreaterThan(250); // every row, not status.preview's 100
    expect(sim.audit()).toHaveLength(writes);
    for (const secret of secretValues) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('SIGTERM: the container exits 0 within 10 s (podman stop -t 10, else SIGKILL) and releases the Lease', async () => {
    expect(container?.child.exitCode).toBeNull();
    const namespace = envOf(spec, 'POD_NAMESPACE');
    const leases = admin.makeApiClient(CoordinationV1Api);
    const t0 = performance.now();
    const stop = await podman(['stop', '--time', '10', containerName]);
    const code = await container!.exited;
    const ms = Math.round(performance.now() - t0);
    expect(stop.code, stop.stderr).toBe(0);
    expect(code, container!.log()).toBe(0); // 137 if it had to be killed after the 10 s
    const lease = await leases.readNamespacedLease({ name: arg(spec.args, '--leader-election-id')!, namespace });
    expect(lease.spec?.holderIdentity ?? '').toBe('');

    const log = container!.log();
    const lines = log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level?: number });
    expect(lines.some((l) => JSON.stringify(l).includes('SIGTERM'))).toBe(true); // it saw the signal (no SIGKILL)
    expect(lines.filter((l) => (l.level ?? 0) >= 50)).toEqual([]);
    for (const secret of secretValues) expect(log).not.toContain(secret);
    console.error(`[image] SIGTERM -> exit ${code} in ${ms} ms (podman stop -t 10 returned ${stop.code}); Lease released; ${lines.length} log lines, no secrets`);
  });
});

/** A client authenticated by a bearer token only (no client certificate). */
function tokenKubeConfig(api: ApiServer, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: api.server, caFile: join(api.dir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}
