// Two operator processes (`adsync controller`) with leader election on a real API
// server: one leads; SIGKILL it in the middle of a sync and the other takes over
// and finishes without creating anyone twice; SIGTERM releases the Lease.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd } from '../support/operator-env.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };

describe('two controllers with leader election', () => {
  const procs: ChildProcess[] = [];
  let ns: TestNamespace | undefined;
  let sim: TruetaskSimulator | undefined;

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await sim?.close();
    await ns?.delete();
  });

  it('only the leader syncs; killed mid-sync, the other takes over and nobody is created twice; SIGTERM releases the Lease', async () => {
    const ad = inject('ad');
    const admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'adsync-ha');
    const namespace = ns.name;
    const core = admin.makeApiClient(CoreV1Api);
    const custom = admin.makeApiClient(CustomObjectsApi);
    const leases = admin.makeApiClient(CoordinationV1Api);
    // Slow answers so that the sync lasts long enough to be interrupted.
    sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], faults: { latencyMs: 40 } });
    const truetaskUrl = sim.url;

    const start = () => {
      const p = spawn(
        process.execPath,
        [main, 'controller', `--namespaces=${namespace}`, '--metrics-bind-address=127.0.0.1:0', `--leader-election-namespace=${namespace}`, '--lease-duration=4', '--write-concurrency=2', '--log-level=warn'],
        { env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: inject('kubeconfigPath') }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      p.stderr?.resume();
      procs.push(p);
      return p;
    };
    const a = start();
    const b = start();
    const holder = async () => {
      const lease = await leases.readNamespacedLease({ name: 'truetask-adsync-leader', namespace }).catch(() => undefined);
      return lease?.spec?.holderIdentity ?? '';
    };
    const leaderPid = await waitFor('a leader', async () => Number((await holder()).split('_').pop()) || undefined, { timeoutMs: 30_000 });
    expect([a.pid, b.pid]).toContain(leaderPid);
    const [leader, follower] = leaderPid === a.pid ? [a, b] : [b, a];

    for (const s of secretObjects({ ad, truetaskUrl, namespace })) await core.createNamespacedSecret({ namespace, body: s as never });
    await custom.createNamespacedCustomObject({ ...G, namespace, body: adsyncObject({ ad, truetaskUrl, namespace, mode: 'Sync' }) });

    // Kill the leader once the sync is under way.
    await waitFor('the sync to be under way', () => (sim!.audit().length >= 20 ? true : undefined), { timeoutMs: 60_000 });
    leader.kill('SIGKILL');
    const createdBeforeKill = sim.audit().length;

    await waitFor('the follower to lead', async () => ((await holder()).endsWith(`_${follower.pid}`) ? true : undefined), { timeoutMs: 30_000 });
    const done = await waitFor(
      'the sync to finish under the new leader',
      async () => {
        const o = (await custom.getNamespacedCustomObject({ ...G, namespace, name: 'corp' })) as { status?: { lastSync?: { result: string; created: number }; directory?: { users: number } } };
        return o.status?.lastSync?.result === 'Succeeded' ? { ...o.status.lastSync, users: o.status.directory?.users ?? -1 } : undefined;
      },
      { timeoutMs: 90_000 },
    );
    const creates = sim.audit().filter((e) => e.change.op === 'create');
    const emails = creates.map((e) => e.email.toLowerCase());
    // nobody twice: not one create was even attempted twice (a 409 would be a second attempt the simulator refused)
    const attempted = sim.createAttempts().map((a) => a.email?.toLowerCase());
    expect(attempted).toHaveLength(emails.length);
    expect(new Set(attempted).size).toBe(attempted.length);
    // everyone in scope, in the end (other test files may have added users to the shared AD)
    expect(done.users).toBeGreaterThanOrEqual(267);
    expect(emails).toHaveLength(done.users);
    expect(createdBeforeKill).toBeLessThan(done.users);
    // The new leader created only those the killed one had not.
    expect(done.created).toBeGreaterThan(0);
    expect(done.created).toBeLessThanOrEqual(done.users - createdBeforeKill);

    // SIGTERM: a clean stop that frees the Lease at once.
    follower.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => follower.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(await holder()).toBe('');
  });
});
