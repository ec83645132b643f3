// A bad neighbour harms no one (issue 18): one controller with two workers, 10 healthy
// AdSyncs (interval 1m) and 3 hostile ones (a DC that never answers, a DC that sends
// entries for ever, a Truetask that drips its body a byte a second). Every healthy
// AdSync still reaches its next scheduled run; the hostile ones fail with their own
// reason and back off instead of holding a worker. How late the healthy runs were is
// printed (timings are measured in bench/neighbours.ts, not asserted here).
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { ldapEndlessEntries, ldapTarpit, truetaskDrip, type Hostile } from '../support/hostile-servers.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const HEALTHY = 10;
type Cond = { type: string; status: string; reason: string; message: string };
type Status = { nextSyncAt?: string; lastRun?: { at?: string }; conditions?: Cond[] };

describe('hostile neighbours', () => {
  const ad = inject('ad');
  let admin: KubeConfig;
  let ns: TestNamespace;
  let sim: TruetaskSimulator;
  let controller: RunningController;
  let custom: CustomObjectsApi;
  const hostile: Hostile[] = [];

  beforeAll(async () => {
    admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'neighbours');
    const operatorUser = await installOperatorRbac(admin, ns.name);
    custom = admin.makeApiClient(CustomObjectsApi);
    const core = admin.makeApiClient(CoreV1Api);
    sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
    hostile.push(await ldapTarpit(), await ldapEndlessEntries(), await truetaskDrip());
    for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ns.name })) await core.createNamespacedSecret({ namespace: ns.name, body: s as never });
    // The product's schedule policy: only the number of workers is small.
    controller = await startController(operatorOptions(inject('kubeconfigPath'), operatorUser, ns.name, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), concurrency: 2, maxRunTimeoutMs: 10_000 }));
  });

  afterAll(async () => {
    await controller?.stop();
    for (const h of hostile) await h.close();
    await sim?.close();
    await ns?.delete();
  });

  const status = async (name: string) => ((await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name })) as { status?: Status }).status ?? {};
  const create = (name: string, over: Partial<Parameters<typeof adsyncObject>[0]>) =>
    custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body: adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, name, ...over, spec: { interval: '1m', ...over.spec } }) });

  it('every healthy AdSync reaches its next run while the hostile ones fail with their reason and back off', async () => {
    const [tarpit, endless, drip] = hostile as [Hostile, Hostile, Hostile];
    const plain = (url: string) => ({ url, tls: undefined, insecurePlaintext: true, timeoutSeconds: 60 });
    // The hostile ones first, so that they take the workers first.
    const created = Date.now();
    await create('tarpit', { ldap: plain(tarpit.url), spec: { timeout: '10s' } });
    await create('endless', { ldap: plain(endless.url), spec: { timeout: '10s' } });
    // spec.timeout 1h, but the operator caps every run at --max-run-timeout (10 s here)
    await create('drip', { truetaskUrl: drip.url, spec: { timeout: '1h' } });
    for (let i = 0; i < HEALTHY; i++) await create(`healthy-${i}`, {});
    const healthy = Array.from({ length: HEALTHY }, (_, i) => `healthy-${i}`);

    // First run of each healthy one: when its next run is due.
    const due = new Map<string, { nextSyncAt: number; firstRunAt: string }>();
    await waitFor('a first preview of every healthy AdSync', async () => {
      for (const name of healthy) {
        if (due.has(name)) continue;
        const s = await status(name);
        const ready = s.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True' && s.nextSyncAt && s.lastRun?.at) due.set(name, { nextSyncAt: Date.parse(s.nextSyncAt), firstRunAt: s.lastRun.at });
      }
      return due.size === HEALTHY;
    }, { timeoutMs: 120_000, intervalMs: 500 });

    // Their next scheduled run, one interval (plus jitter) later, despite the neighbours.
    const lateness = new Map<string, number>();
    await waitFor('the next scheduled run of every healthy AdSync', async () => {
      for (const name of healthy) {
        if (lateness.has(name)) continue;
        const s = await status(name);
        const d = due.get(name)!;
        if (s.lastRun?.at && s.lastRun.at !== d.firstRunAt) lateness.set(name, Date.parse(s.lastRun.at) - d.nextSyncAt);
      }
      return lateness.size === HEALTHY;
    }, { timeoutMs: 150_000, intervalMs: 500 });
    const worst = Math.max(...lateness.values());
    console.error(`[neighbours] ${HEALTHY} healthy AdSyncs (interval 1m) + 3 hostile, 2 workers: the second runs completed at most ${(worst / 1000).toFixed(1)} s after they were due (run time included)`);

    const elapsedS = (Date.now() - created) / 1000;
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    for (const [name, reason] of [['tarpit', 'RunTimedOut'], ['endless', 'DirectoryTooLarge'], ['drip', 'RunTimedOut']] as const) {
      const s = await status(name);
      expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason });
      if (reason === 'RunTimedOut') expect(s.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(/did not finish within its timeout \(10s: /);
      // retried (a retry waits, or runs right now), never stalled for good
      expect(['ProgressingWithRetry', 'Progressing']).toContain(s.conditions?.find((c) => c.type === 'Reconciling')?.reason);
      // backing off: with retries from 5 s doubling, far fewer failed runs than a busy loop of 10 s runs would make
      const failures = Number(metrics.split('\n').find((l) => l.startsWith('truetask_adsync_runs_total') && l.includes(`name="${name}"`) && l.includes('result="failure"'))?.split(' ').pop());
      console.error(`[neighbours] ${name}: ${reason}, ${failures} failed runs in ${elapsedS.toFixed(0)} s`);
      expect(failures).toBeGreaterThanOrEqual(1);
      expect(failures).toBeLessThan(elapsedS / 10);
    }
    expect(hostile.every((h) => h.connections > 0)).toBe(true);
  });
});
