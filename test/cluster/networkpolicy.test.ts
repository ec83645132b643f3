// The chart's NetworkPolicy enforced on a real cluster (kube-router's network policy
// controller, started by scripts/cluster/up.sh): with networkPolicy.enabled and the
// CIDRs of the test's DC and Truetask (each at an address of its own inside the
// cluster's namespace), the operator still reaches the API server, the DC and
// Truetask (an AdSync reaches Synced) and nothing else, and accepts connections only
// on its metrics port. Every refusal is checked against its control: the same
// connection succeeds before the policy is on and after it is off again, and from a
// pod the policy does not select, so it is the policy that blocks it.
import { randomInt } from 'node:crypto';
import { CoreV1Api, NetworkingV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../tools/bin.ts';
import { NODE_IP } from '../support/cluster.ts';
import { admin, APP_VERSION, CHART, createAdSync, deleteNamespace, duplicateCreates, helm, kubectl, readyPods, restrictedNamespace, tenant, uniqueName, waitSynced, type Tenant } from '../support/cluster-operator.ts';
import { waitFor } from '../support/kube-wait.ts';
import { connects, httpStatus, listenIn, podPid, type Listener, type NetSource } from '../support/pod-net.ts';

const METRICS_PORT = 8080;
/** The `kubernetes` Service (first address of the Service CIDR, scripts/cluster/env.sh). */
const SERVICE_IP = '10.96.0.1';

describe('the chart NetworkPolicy, enforced (kube-router network policy controller)', () => {
  const release = uniqueName('adsync-np');
  let opNs = '';
  let t: Tenant | undefined;
  const listeners: Listener[] = [];
  const timings: Record<string, number> = {};
  let operator: NetSource = { pid: 0 };
  let operatorIp = '';
  let bystander: NetSource = { pid: 0 };
  let bystanderIp = '';
  // The DC as pods reach it (its address in the cluster's namespace).
  const dc = () => new URL(inject('adInClusterUrl'));
  // Connections the policy must refuse, each to something that is listening.
  let denied: Array<{ what: string; from: () => NetSource; host: () => string; port: () => number }> = [];

  const helmValues = (enabled: boolean, apiServerCidr = `${NODE_IP}/32`) => [
    '--set', 'image.pullPolicy=Never',
    '--set', `networkPolicy.enabled=${enabled}`,
    '--set', `networkPolicy.apiServer.cidrs={${apiServerCidr}}`,
    '--set', `networkPolicy.directory.cidrs={${dc().hostname}/32}`,
    '--set', `networkPolicy.directory.ports={${dc().port}}`,
    '--set', `networkPolicy.truetask.cidrs={${t?.relay.host ?? ''}/32}`,
    '--set', `networkPolicy.truetask.ports={${t?.relay.port ?? 0}}`,
  ];
  const outcomes = async () => Promise.all(denied.map(async (d) => `${d.what}: ${(await connects(d.from(), d.host(), d.port())) ? 'connects' : 'refused'}`));

  beforeAll(async () => {
    await kubectl(['delete', 'crd', 'adsyncs.truetask.io', '--ignore-not-found', '--wait=true']);
    opNs = await restrictedNamespace('adsync-np');
    t = await tenant('adsync-np-tenant');
    // A pod the policy does not select (the pause image every node has), in the tenant's namespace.
    const core = admin().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({
      namespace: t.namespace,
      body: {
        metadata: { name: 'bystander' },
        spec: {
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'pause',
              image: 'registry.k8s.io/pause:3.10',
              imagePullPolicy: 'Never',
              securityContext: { runAsNonRoot: true, runAsUser: 65535, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
            },
          ],
        },
      },
    });
    const tns = t.namespace;
    const by = await waitFor(
      'the bystander pod Running',
      async () => {
        const p: V1Pod = await core.readNamespacedPod({ name: 'bystander', namespace: tns });
        return p.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.containerID ? p : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    bystander = { pid: await podPid(by) };
    bystanderIp = by.status?.podIP ?? '';
  });

  afterAll(async () => {
    for (const l of listeners) await l.close();
    await t?.close();
    if (opNs) {
      await helm(['uninstall', release, '-n', opNs, '--wait', '--timeout', '120s'], { allowFail: true });
      await deleteNamespace(opNs);
    }
    await kubectl(['delete', 'crd', 'adsyncs.truetask.io', '--ignore-not-found', '--wait=true'], { allowFail: true });
    mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
    writeFileSync(join(repoRoot, '.tmp', 'cluster-networkpolicy.json'), `${JSON.stringify(timings, null, 2)}\n`);
    console.error(`[networkpolicy] timings (ms): ${JSON.stringify(timings)}`);
  });

  it('without the policy, every probe connection goes through (the controls)', async () => {
    await helm(['install', release, CHART, '-n', opNs, ...helmValues(false), '--wait', '--timeout', '180s']);
    const [pod] = await readyPods(opNs, 2);
    if (!pod) throw new Error('no operator pod');
    operator = { pid: await podPid(pod) };
    operatorIp = pod.status?.podIP ?? '';
    // Something listening elsewhere in the cluster's namespace: on the node address (below
    // kube-router's always-open node-port range 30000-32767), in the bystander pod, and on
    // a port of the operator's own pod other than the metrics port.
    const nodePort = randomInt(24_000, 29_000);
    listeners.push(await listenIn('cluster', nodePort, NODE_IP));
    listeners.push(await listenIn(bystander, 9090));
    listeners.push(await listenIn(operator, 9091));
    denied = [
      { what: `operator -> etcd ${NODE_IP}:2379`, from: () => operator, host: () => NODE_IP, port: () => 2379 },
      { what: `operator -> ${NODE_IP}:${nodePort} (another port on the node address)`, from: () => operator, host: () => NODE_IP, port: () => nodePort },
      // The DC itself, on a port the policy does not open (Samba serves the global catalog there).
      { what: 'operator -> the DC :3268 (global catalog)', from: () => operator, host: () => dc().hostname, port: () => 3268 },
      { what: 'operator -> another pod :9090', from: () => operator, host: () => bystanderIp, port: () => 9090 },
      { what: 'another pod -> operator :9091 (not the metrics port)', from: () => bystander, host: () => operatorIp, port: () => 9091 },
    ];
    expect(await outcomes()).toEqual(denied.map((d) => `${d.what}: connects`));
  });

  it('with the policy on: the operator reaches the API server, the DC and Truetask (Synced), and nothing else; only the metrics port is open', async () => {
    // Timed while helm runs: when the NetworkPolicy object exists, and when the first refusal is seen.
    const net = admin().makeApiClient(NetworkingV1Api);
    const t0 = performance.now();
    const upgrade = helm(['upgrade', release, CHART, '-n', opNs, ...helmValues(true), '--wait', '--timeout', '180s']);
    const created = waitFor('the NetworkPolicy object', async () => (await net.listNamespacedNetworkPolicy({ namespace: opNs })).items.length > 0 && performance.now(), { timeoutMs: 60_000, intervalMs: 20 });
    const enforced = waitFor('the policy enforced (operator -> etcd refused)', async () => !(await connects(operator, NODE_IP, 2379)) && performance.now(), { timeoutMs: 60_000, intervalMs: 20 });
    const [createdAt, enforcedAt] = await Promise.all([created, enforced, upgrade]);
    timings.policyCreatedAfterHelmStartMs = Math.round(createdAt - t0);
    timings.enforcedAfterPolicyCreatedMs = Math.round(enforcedAt - createdAt);
    timings.helmUpgradeMs = Math.round(performance.now() - t0);
    expect(await outcomes()).toEqual(denied.map((d) => `${d.what}: refused`));

    // What the policy allows, from the operator's pod: the API server endpoint, the DC, Truetask, and
    // the metrics port from another pod.
    expect(await connects(operator, NODE_IP, 6443)).toBe(true);
    expect(await connects(operator, dc().hostname, Number(dc().port))).toBe(true);
    expect(await connects(operator, t?.relay.host ?? '', t?.relay.port ?? 0)).toBe(true);
    expect(await httpStatus(bystander, `http://${operatorIp}:${METRICS_PORT}/metrics`)).toBe(200);
    // The same refused targets are reachable from a pod the policy does not select.
    expect(await connects(bystander, NODE_IP, 2379)).toBe(true);
    expect(await connects(bystander, NODE_IP, listeners[0]?.port ?? 0)).toBe(true);

    // The operator works under the policy: a real sync through it.
    if (!t) throw new Error('no tenant');
    const s0 = performance.now();
    await createAdSync(t);
    const status = await waitSynced(t.namespace);
    timings.syncUnderPolicyMs = Math.round(performance.now() - s0);
    const users = t.sim.createAttempts().length;
    expect(users).toBeGreaterThan(100);
    expect(status.lastSync?.created).toBe(users);
    expect(duplicateCreates(t.sim)).toEqual([]);
    const pods = await readyPods(opNs, 2);
    for (const p of pods) expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual([`ghcr.io/truetask/truetask-adsync:${APP_VERSION}`, `ghcr.io/truetask/truetask-adsync:${APP_VERSION}`]);
  });

  it('apiServer.cidrs must name the API server endpoint: with only the kubernetes Service IP the API server is refused', async () => {
    // kube-router (like most engines) matches after kube-proxy has translated the Service address.
    expect(await connects(operator, SERVICE_IP, 443)).toBe(true);
    await helm(['upgrade', release, CHART, '-n', opNs, ...helmValues(true, `${SERVICE_IP}/32`)]);
    await waitFor('the API server refused through its Service IP', async () => !(await connects(operator, SERVICE_IP, 443)), { timeoutMs: 60_000, intervalMs: 100 });
    expect(await connects(operator, NODE_IP, 6443)).toBe(false);
    // From a pod the policy does not select, the same Service answers.
    expect(await connects(bystander, SERVICE_IP, 443)).toBe(true);
    await helm(['upgrade', release, CHART, '-n', opNs, ...helmValues(true)]);
    await waitFor('the API server reachable again', () => connects(operator, SERVICE_IP, 443), { timeoutMs: 60_000, intervalMs: 100 });
  });

  it('with the policy off again, the same connections go through', async () => {
    const net = admin().makeApiClient(NetworkingV1Api);
    const upgrade = helm(['upgrade', release, CHART, '-n', opNs, ...helmValues(false), '--wait', '--timeout', '180s']);
    const deleted = waitFor('the NetworkPolicy deleted', async () => (await net.listNamespacedNetworkPolicy({ namespace: opNs })).items.length === 0 && performance.now(), { timeoutMs: 60_000, intervalMs: 20 });
    const lifted = waitFor('the policy lifted (operator -> etcd connects)', async () => (await connects(operator, NODE_IP, 2379)) && performance.now(), { timeoutMs: 60_000, intervalMs: 20 });
    const [deletedAt, liftedAt] = await Promise.all([deleted, lifted, upgrade]);
    timings.liftedAfterPolicyDeletedMs = Math.round(liftedAt - deletedAt);
    expect(await outcomes()).toEqual(denied.map((d) => `${d.what}: connects`));
  });
});
