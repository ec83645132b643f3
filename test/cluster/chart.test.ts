// The chart as users run it: `helm install` on a real single-node cluster
// (scripts/cluster/up.sh), the operator's pods doing real syncs against the Samba
// DC and the Truetask simulator, leader failover and a rolling upgrade in the
// middle of a sync, the PodDisruptionBudget, metrics scraped from inside the
// cluster, and the pods' memory next to the chart's requests and limits.
import { mkdirSync, writeFileSync } from 'node:fs';
import { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../tools/bin.ts';
import { ctr } from '../support/cluster.ts';
import {
  admin,
  adsyncStatus,
  APP_VERSION,
  CHART,
  createAdSync,
  deleteNamespace,
  duplicateCreates,
  helm,
  holderPod,
  IMAGE_REPO,
  kubectl,
  leaseHolder,
  operatorPods,
  readyPods,
  restrictedNamespace,
  tenant,
  uniqueName,
  waitSynced,
  type Tenant,
} from '../support/cluster-operator.ts';
import { waitFor } from '../support/kube-wait.ts';
import { cgroupVersion, podMemory } from '../support/pod-memory.ts';
import { TOKEN } from '../support/scenario.ts';

const MiB = 1024 * 1024;

describe('helm install of charts/truetask-adsync on a real cluster', () => {
  const release = uniqueName('adsync');
  const fullname = `${release}-truetask-adsync`;
  const lease = `${fullname}-leader`;
  let opNs = '';
  const tenants: Tenant[] = [];
  // Memory of the operator's pods, sampled all along (idle and during runs).
  const samples: Array<{ phase: string; pod: string; workingSetBytes: number; usageBytes: number }> = [];
  let phase = 'start';
  let sampler: NodeJS.Timeout | undefined;
  const timelines: Record<string, unknown> = {};

  beforeAll(async () => {
    // A CRD left by an earlier run (the chart keeps it on uninstall) would not be the release's.
    await kubectl(['delete', 'crd', 'adsyncs.truetask.io', '--ignore-not-found', '--wait=true']);
    opNs = await restrictedNamespace('adsync-system');
    let pods: Array<{ uid: string; name: string }> = [];
    let busy = false;
    sampler = setInterval(() => {
      if (busy) return;
      busy = true;
      operatorPods(opNs)
        .then((list) => {
          pods = list.map((p) => ({ uid: p.metadata?.uid ?? '', name: p.metadata?.name ?? '' }));
        })
        .catch(() => undefined)
        .finally(() => {
          busy = false;
        });
      for (const p of pods) {
        const m = podMemory(p.uid);
        if (m) samples.push({ phase, pod: p.name, ...m });
      }
    }, 200);
  });

  afterAll(async () => {
    clearInterval(sampler);
    for (const t of tenants) await t.close();
    if (opNs) {
      await helm(['uninstall', release, '-n', opNs, '--wait', '--timeout', '120s'], { allowFail: true });
      await deleteNamespace(opNs);
    }
    await kubectl(['delete', 'crd', 'adsyncs.truetask.io', '--ignore-not-found', '--wait=true'], { allowFail: true });
    mkdirSync(`${repoRoot}/.tmp`, { recursive: true });
    writeFileSync(`${repoRoot}/.tmp/cluster-timelines.json`, `${JSON.stringify(timelines, null, 2)}\n`);
  });

  it('installs with the shipped defaults in a restricted namespace: 2/2 Ready, probes passing, one leader; an AdSync is Synced; no secret in the logs', async () => {
    await helm(['install', release, CHART, '-n', opNs, '--set', 'image.pullPolicy=Never', '--wait', '--timeout', '180s']);
    const pods = await readyPods(opNs, 2);
    for (const p of pods) expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    const names = pods.map((p) => p.metadata?.name);
    const holder = await waitFor('a Lease holder', async () => (await leaseHolder(opNs, lease)) || undefined, { timeoutMs: 60_000 });
    expect(names).toContain(holderPod(holder));
    phase = 'idle';
    await waitFor('idle memory samples', () => (samples.filter((s) => s.phase === 'idle').length >= 10 ? true : undefined), { timeoutMs: 30_000 });

    const t = await tenant('adsync-tenant');
    tenants.push(t);
    phase = 'run';
    await createAdSync(t);
    const status = await waitSynced(t.namespace);
    phase = 'after-run';
    const users = t.sim.createAttempts().length;
    expect(users).toBeGreaterThan(100);
    expect(status.lastSync?.created).toBe(users);
    expect(duplicateCreates(t.sim)).toEqual([]);
    // The pods answered their probes all along (no restart).
    const after = await readyPods(opNs, 2);
    for (const p of after) expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(0);

    const ad = inject('ad');
    let logged = '';
    for (const p of after) logged += (await kubectl(['logs', '-n', opNs, p.metadata?.name ?? '', '--all-containers'])).stdout;
    expect(logged).toContain(t.namespace); // the leader logged the run
    expect(logged).not.toContain(ad.bindPassword);
    expect(logged).not.toContain(TOKEN);
  });

  it('the PodDisruptionBudget holds: of two evictions in a row, the second is refused until the first pod is replaced', async () => {
    const core = admin().makeApiClient(CoreV1Api);
    const [a, b] = await readyPods(opNs, 2);
    const evict = (name: string) => core.createNamespacedPodEviction({ name, namespace: opNs, body: { metadata: { name, namespace: opNs } } });
    await evict(a?.metadata?.name ?? '');
    const refused = await evict(b?.metadata?.name ?? '').then(
      () => 0,
      (err: unknown) => (err as { code?: number }).code ?? -1,
    );
    expect(refused).toBe(429);
    // Once the replacement is Ready, the budget allows the next eviction.
    await readyPods(opNs, 2);
    await evict(b?.metadata?.name ?? '');
    await readyPods(opNs, 2);
  });

  it('deleting the leader pod in the middle of a sync: its run is cancelled, another pod takes the Lease and finishes the sync; every user is created exactly once', async () => {
    const t = await tenant('adsync-ha', { latencyMs: 150 });
    tenants.push(t);
    const before = await readyPods(opNs, 2);
    const leader = holderPod(await leaseHolder(opNs, lease));
    const standby = before.map((p) => p.metadata?.name).find((n) => n !== leader);
    const t0 = Date.now();
    phase = 'run';
    await createAdSync(t);
    await waitFor('the sync to be under way', () => (t.sim.createAttempts().length >= 15 ? true : undefined), { timeoutMs: 120_000, intervalMs: 20 });
    const attemptsAtKill = t.sim.createAttempts().length;
    const killedAt = Date.now();
    await kubectl(['delete', 'pod', '-n', opNs, leader, '--wait=false']);
    const newLeader = await waitFor(
      'another pod to take the Lease',
      async () => {
        const h = holderPod(await leaseHolder(opNs, lease));
        return h && h !== leader ? h : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    const tookOverAt = Date.now();
    const status = await waitSynced(t.namespace);
    const syncedAt = Date.now();
    phase = 'after-run';
    const attempts = t.sim.createAttempts();
    expect(duplicateCreates(t.sim)).toEqual([]);
    expect(new Set(attempts.map((x) => x.email)).size).toBe(attempts.length);
    expect(attempts.length).toBe(t.sim.createAttempts().filter((x) => x.status === 201).length);
    expect(status.lastSync?.result).toBe('Succeeded');
    // The new leader's run finished the job: it created the users the deleted pod had not.
    expect(status.lastSync?.created).toBeLessThan(attempts.length);
    expect(status.lastSync?.created).toBeGreaterThan(0);
    timelines.leaderKill = {
      leader,
      standby,
      newLeader,
      newLeaderWasStandby: newLeader === standby,
      createAttemptsAtDelete: attemptsAtKill,
      createdByNewLeader: status.lastSync?.created,
      createAttemptsTotal: attempts.length,
      createAttemptsNot201: attempts.filter((x) => x.status !== 201).length,
      msAdSyncToDelete: killedAt - t0,
      msDeleteToNewLeader: tookOverAt - killedAt,
      msDeleteToSynced: syncedAt - killedAt,
    };
    await readyPods(opNs, 2);
  });

  it('helm upgrade to a new image tag in the middle of a sync: rolls, converges, nobody created twice, no run left half-done', async () => {
    const newTag = `${APP_VERSION}-rolled`;
    await ctr(['images', 'tag', '--force', `${IMAGE_REPO}:${APP_VERSION}`, `${IMAGE_REPO}:${newTag}`]);
    const t = await tenant('adsync-upgrade', { latencyMs: 150 });
    tenants.push(t);
    await readyPods(opNs, 2);
    const t0 = Date.now();
    phase = 'run';
    await createAdSync(t);
    await waitFor('the sync to be under way', () => (t.sim.createAttempts().length >= 15 ? true : undefined), { timeoutMs: 120_000, intervalMs: 20 });
    const attemptsAtUpgrade = t.sim.createAttempts().length;
    const upgradeAt = Date.now();
    await helm(['upgrade', release, CHART, '-n', opNs, '--reuse-values', '--set', `image.tag=${newTag}`, '--set', 'metrics.service.enabled=true', '--wait', '--timeout', '240s']);
    const rolledAt = Date.now();
    const pods = await readyPods(opNs, 2);
    for (const p of pods) expect(p.spec?.containers[0]?.image).toBe(`${IMAGE_REPO}:${newTag}`);
    const status = await waitSynced(t.namespace);
    const syncedAt = Date.now();
    phase = 'after-run';
    expect(status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const attempts = t.sim.createAttempts();
    expect(duplicateCreates(t.sim)).toEqual([]);
    expect(status.lastSync?.result).toBe('Succeeded');
    // Every user the directory has is in Truetask (the run was not left half-done).
    expect(t.sim.createAttempts().filter((x) => x.status === 201).length).toBe(attempts.length);
    const again = await adsyncStatus(t.namespace);
    expect(again.lastSync?.result).toBe('Succeeded');
    timelines.rollingUpgrade = {
      newTag,
      createAttemptsAtUpgrade: attemptsAtUpgrade,
      createAttemptsTotal: attempts.length,
      msAdSyncToUpgrade: upgradeAt - t0,
      msUpgradeRolled: rolledAt - upgradeAt,
      msUpgradeToSynced: syncedAt - upgradeAt,
    };
  });

  it('metrics are scraped from inside the cluster through the chart Service, as Prometheus would', async () => {
    const core = admin().makeApiClient(CoreV1Api);
    const svc = await core.readNamespacedService({ name: `${fullname}-metrics`, namespace: opNs });
    const ip = svc.spec?.clusterIP ?? '';
    const port = svc.spec?.ports?.[0]?.port ?? 0;
    // An address of the cluster's Service range (10.96.0.0/12), inside its network namespace.
    expect(ip).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\./);
    // Prometheus scrapes every endpoint of the Service; the ClusterIP must answer too.
    const slices = await admin().makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: opNs, labelSelector: `kubernetes.io/service-name=${fullname}-metrics` });
    const endpoints = slices.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses));
    expect(endpoints).toHaveLength(2);
    const targets = [`${ip}:${port}`, ...endpoints.map((a) => `${a}:${port}`)];
    // A run by the current pods (those of the upgrade), so that their registries hold its series.
    const t = await tenant('adsync-metrics');
    tenants.push(t);
    await createAdSync(t);
    await waitSynced(t.namespace);
    const script = `const out = {}; for (const t of ${JSON.stringify(targets)}) { try { const r = await fetch('http://' + t + '/metrics'); out[t] = { status: r.status, body: await r.text() }; } catch (e) { out[t] = { status: 0, body: String(e) }; } } console.log(JSON.stringify(out));`;
    const pod = uniqueName('scrape');
    await core.createNamespacedPod({
      namespace: t.namespace,
      body: {
        metadata: { name: pod },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'scrape', image: `${IMAGE_REPO}:${APP_VERSION}`, imagePullPolicy: 'Never', command: ['node', '--input-type=module', '-e', script] }],
        },
      },
    });
    await waitFor(
      'the scrape pod to finish',
      async () => {
        const p = await core.readNamespacedPod({ name: pod, namespace: t.namespace });
        if (p.status?.phase === 'Failed') throw new Error('scrape pod failed');
        return p.status?.phase === 'Succeeded' ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    const out = JSON.parse((await kubectl(['logs', '-n', t.namespace, pod])).stdout) as Record<string, { status: number; body: string }>;
    for (const target of targets) expect(out[target]?.status, target).toBe(200);
    const all = Object.values(out).map((o) => o.body).join('\n');
    const series = new RegExp(`^truetask_adsync_ready\\{[^}]*namespace="${t.namespace}"[^}]*\\} 1$`, 'm');
    expect(all).toMatch(series);
    expect(all).toMatch(new RegExp(`^truetask_adsync_users_created_total\\{[^}]*namespace="${t.namespace}"`, 'm'));
    expect(all).not.toContain(TOKEN);
  });

  it("the pods' memory, read from their cgroups, stays within the chart's limit; recorded next to requests and limits", async () => {
    const pods = await operatorPods(opNs);
    const resources = pods[0]?.spec?.containers[0]?.resources;
    const parse = (q: string | undefined) => {
      const m = /^(\d+)(Mi|Gi)$/.exec(q ?? '');
      return m ? Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1) * MiB : NaN;
    };
    const request = parse(resources?.requests?.memory);
    const limit = parse(resources?.limits?.memory);
    const of = (ph: string) => samples.filter((s) => s.phase === ph);
    const max = (xs: typeof samples, k: 'workingSetBytes' | 'usageBytes') => xs.reduce((m, s) => Math.max(m, s[k]), 0);
    const idle = of('idle');
    const run = of('run');
    expect(idle.length).toBeGreaterThan(0);
    expect(run.length).toBeGreaterThan(0);
    const peak = max(samples, 'usageBytes');
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(limit);
    const report = {
      cgroupVersion,
      measuredAt: new Date().toISOString(),
      chart: { requestsMemoryMiB: request / MiB, limitsMemoryMiB: limit / MiB, requestsCpu: resources?.requests?.cpu },
      idleWorkingSetMiB: Math.round(max(idle, 'workingSetBytes') / MiB),
      runWorkingSetPeakMiB: Math.round(max(run, 'workingSetBytes') / MiB),
      peakUsageInclCacheMiB: Math.round(peak / MiB),
      samples: samples.length,
      directoryUsers: (await adsyncStatus(tenants[0]?.namespace ?? '')).directory?.users,
    };
    writeFileSync(`${repoRoot}/.tmp/cluster-resources.json`, `${JSON.stringify(report, null, 2)}\n`);
    // The request is what a pod needs at rest; a run must fit under the limit with room to spare.
    expect(max(idle, 'workingSetBytes')).toBeLessThan(request);
    expect(max(run, 'workingSetBytes')).toBeLessThan(limit / 2);
  });
});
