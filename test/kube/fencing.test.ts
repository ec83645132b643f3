// Fencing on leadership, with two operator processes (`adsync controller`) on a
// real API server: the leader is frozen (SIGSTOP) in the middle of a slow sync
// for longer than its Lease, the other replica takes over and finishes; resumed
// (SIGCONT), the old leader sends not one request to Truetask (counted at the
// simulator by User-Agent), writes no status, and exits non-zero so that its
// Deployment restarts it clean. Every user is created exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const LEASE_SECONDS = 4;

interface LastSync {
  result: string;
  created: number;
  startedAt?: string;
  completedAt?: string;
}

describe('fencing on leadership', () => {
  const procs: ChildProcess[] = [];
  let ns: TestNamespace | undefined;
  let sim: TruetaskSimulator | undefined;

  afterAll(async () => {
    for (const p of procs) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
    await sim?.close();
    await ns?.delete();
  });

  it('a leader frozen past its Lease makes no request to Truetask after it resumes, and exits; nobody is created twice', async () => {
    const ad = inject('ad');
    const admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'adsync-fence');
    const namespace = ns.name;
    const core = admin.makeApiClient(CoreV1Api);
    const custom = admin.makeApiClient(CustomObjectsApi);
    const leases = admin.makeApiClient(CoordinationV1Api);
    // A slow Truetask, so that the sync lasts long enough to be frozen half-way.
    sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], faults: { latencyMs: 60 } });
    const truetaskUrl = sim.url;

    const output = new Map<number, string>();
    const start = () => {
      const p = spawn(
        process.execPath,
        [main, 'controller', `--namespaces=${namespace}`, '--metrics-bind-address=127.0.0.1:0', `--leader-election-namespace=${namespace}`, `--lease-duration=${LEASE_SECONDS}`, '--write-concurrency=2', '--log-level=warn'],
        { env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: inject('kubeconfigPath') }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const keep = (b: Buffer) => output.set(p.pid ?? 0, (output.get(p.pid ?? 0) ?? '') + b.toString());
      p.stdout?.on('data', keep);
      p.stderr?.on('data', keep);
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
    const leaderIdentity = await holder();
    const byLeader = (ua: string) => ua.endsWith(`(${leaderIdentity})`);

    for (const s of secretObjects({ ad, truetaskUrl, namespace })) await core.createNamespacedSecret({ namespace, body: s as never });
    await custom.createNamespacedCustomObject({ ...G, namespace, body: adsyncObject({ ad, truetaskUrl, namespace, mode: 'Sync' }) });

    // Freeze the leader once the sync is under way; it keeps its sockets, timers and requests in flight.
    await waitFor('the sync to be under way', () => (sim!.audit().length >= 20 ? true : undefined), { timeoutMs: 60_000 });
    leader.kill('SIGSTOP');
    const frozenAt = Date.now();
    const createdBeforeFreeze = sim.audit().length;

    await waitFor('the follower to take over', async () => ((await holder()).endsWith(`_${follower.pid}`) ? true : undefined), { timeoutMs: 30_000 });
    const done = await waitFor(
      'the sync to finish under the new leader',
      async () => {
        const o = (await custom.getNamespacedCustomObject({ ...G, namespace, name: 'corp' })) as { status?: { lastSync?: LastSync; directory?: { users: number } } };
        return o.status?.lastSync?.result === 'Succeeded' ? { lastSync: o.status.lastSync, users: o.status.directory?.users ?? -1 } : undefined;
      },
      { timeoutMs: 120_000 },
    );
    // Frozen for longer than its Lease by now (the follower only takes an expired Lease).
    expect(Date.now() - frozenAt).toBeGreaterThan(LEASE_SECONDS * 1000);

    const resumedAt = Date.now();
    leader.kill('SIGCONT');
    const code = await new Promise<number | null>((resolve) => (leader.exitCode !== null ? resolve(leader.exitCode) : leader.once('exit', (c) => resolve(c))));
    // Exits non-zero (its Deployment restarts it), after saying why.
    expect(code).not.toBe(0);
    expect(output.get(leader.pid ?? 0) ?? '').toContain('lost leadership');

    const received = sim.received();
    const fromLeader = received.filter((r) => byLeader(r.userAgent));
    const afterResume = fromLeader.filter((r) => r.at >= resumedAt);
    const fromFollower = received.filter((r) => r.userAgent.endsWith(`_${follower.pid})`));
    // Every request names its replica: truetask-adsync/<version> (<identity>).
    for (const r of received) expect(r.userAgent).toMatch(new RegExp(`^truetask-adsync/${version.replace(/\./g, '\\.')} \\([^)]+_\\d+\\)$`));
    expect(fromLeader.length).toBeGreaterThan(0);
    expect(fromFollower.length).toBeGreaterThan(0);
    expect(afterResume).toEqual([]);

    // Every user created exactly once: no create was even attempted twice.
    const attempted = sim.createAttempts().map((x) => x.email?.toLowerCase());
    const created = sim.audit().filter((e) => e.change.op === 'create').map((e) => e.email.toLowerCase());
    expect(new Set(attempted).size).toBe(attempted.length);
    expect(attempted).toHaveLength(created.length);
    expect(done.users).toBeGreaterThanOrEqual(267);
    expect(created).toHaveLength(done.users);
    expect(createdBeforeFreeze).toBeLessThan(done.users);

    // The old leader wrote no status either: the new leader's report stands.
    const after = (await custom.getNamespacedCustomObject({ ...G, namespace, name: 'corp' })) as { status?: { lastSync?: LastSync } };
    expect(after.status?.lastSync).toEqual(done.lastSync);

    console.info(
      `fencing: leader ${leaderIdentity} frozen ${Math.round((resumedAt - frozenAt) / 1000)}s after ${createdBeforeFreeze} creates; ` +
        `requests to Truetask: old leader ${fromLeader.length} (after resuming: ${afterResume.length}), new leader ${fromFollower.length}; ` +
        `creates attempted ${attempted.length}, users ${done.users}, distinct ${new Set(attempted).size}`,
    );
  });
});
