// Failure behaviour a platform team can trust, on the real servers, with the
// product's own retry policy (no test shortcuts: 5 s back-off base, 10 min cap,
// 15 min safety net, Secrets polled every 30 s):
//  - a wrong bind password against a Samba DC that locks accounts after 5 bad
//    passwords, for 3 minutes (with a leader change, a watch relist and metadata
//    edits meanwhile), never locks the service account; fixing only the Secret
//    makes the AdSync Ready within 60 s, and every user is created exactly once;
//  - Truetask down for 2 minutes costs at most 8 failed runs, then the AdSync
//    recovers on its own;
//  - in each phase kstatus (the library Flux uses) and the shipped Argo CD Lua
//    health check read the object: Current / InProgress / Failed.
// The two long scenarios run concurrently, under one controller.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { argoHealth, kstatus, type Verdict } from '../support/health.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { lockoutState, startSambaAD, type SambaAD, type SambaADInfo } from '../support/samba.ts';
import { adsyncObject, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const run = promisify(execFile);
const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const WRONG_PASSWORD = 'Wrong-Passw0rd-for-lockout';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Obj {
  metadata: { generation: number; annotations?: Record<string, string> };
  status?: { observedGeneration?: number; conditions?: Cond[]; lastSync?: { result: string; created: number }; nextSyncAt?: string; lastHandledSyncNow?: string };
}

const cond = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);
const secs = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;

describe('failure behaviour', () => {
  let lockDc: SambaAD | undefined;
  let ns: TestNamespace;
  let admin: KubeConfig;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let operatorUser: string;
  let controller: RunningController;
  const sims: TruetaskSimulator[] = [];
  const measured: Record<string, unknown> = {};

  const startOperator = (identity: string) =>
    startController(
      operatorOptions(inject('kubeconfigPath'), operatorUser, ns.name, {
        logger: quiet,
        leaderElect: true,
        identity,
        leaseDurationSeconds: 4,
        renewDeadlineSeconds: 3,
        retryPeriodSeconds: 1,
        concurrency: 2,
      }),
    );

  const get = async (name: string) => (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name })) as Obj;
  const verdicts = async (o: Obj): Promise<{ kstatus: Verdict; argo: Verdict }> => ({ kstatus: await kstatus(o), argo: await argoHealth(o) });
  const waitObj = (what: string, name: string, pred: (o: Obj) => boolean, timeoutMs: number) =>
    waitFor(what, async () => {
      const o = await get(name);
      return pred(o) ? o : undefined;
    }, { timeoutMs, intervalMs: 200 });
  const secret = (name: string, data: Record<string, string>) => ({ metadata: { name }, stringData: data });
  /** The runs that failed, from the Warning events (counts included): they survive a leader change. */
  const failedRuns = async (name: string, reason: string) =>
    (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: `involvedObject.name=${name}` })).items.filter((e) => e.reason === reason).reduce((n, e) => n + (e.count ?? 1), 0);

  beforeAll(async () => {
    admin = kubeConfigFor(inject('kubeconfigPath'));
    custom = admin.makeApiClient(CustomObjectsApi);
    core = admin.makeApiClient(CoreV1Api);
    // A DC of its own, which locks an account after 5 bad passwords: the shared DC stays as it is.
    [lockDc] = await Promise.all([
      startSambaAD({ lockoutThreshold: 5 }),
      installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath')),
      kstatus({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', generation: 1 } }), // builds the checker once
    ]);
    ns = await createTestNamespace(admin, 'adsync-failure');
    operatorUser = await installOperatorRbac(admin, ns.name);
    controller = await startOperator('first');
  }, 600_000);

  afterAll(async () => {
    await controller?.stop();
    for (const s of sims) await s.close();
    await ns?.delete();
    await lockDc?.stop();
    if (Object.keys(measured).length > 0) {
      await mkdir('.tmp', { recursive: true });
      await writeFile('.tmp/failure-behaviour.json', `${JSON.stringify(measured, null, 2)}\n`);
    }
  });

  const sim = async (latencyMs = 0) => {
    const s = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], ...(latencyMs ? { faults: { latencyMs } } : {}) });
    sims.push(s);
    return s;
  };

  it.concurrent('a wrong password for 3 minutes never locks the service account; fixing only the Secret is enough', async () => {
    const dc: SambaADInfo = lockDc!;
    const truetask = await sim();
    const name = 'locked-out';
    await core.createNamespacedSecret({ namespace: ns.name, body: secret('lock-bind', { password: WRONG_PASSWORD }) });
    await core.createNamespacedSecret({ namespace: ns.name, body: secret('lock-ca', { 'ca.crt': dc.caPem }) });
    await core.createNamespacedSecret({ namespace: ns.name, body: secret('lock-token', { token: TOKEN }) });
    const body = adsyncObject({
      ad: dc,
      truetaskUrl: truetask.url,
      namespace: ns.name,
      name,
      mode: 'Sync',
      spec: { interval: '1h', truetask: { url: truetask.url, tokenSecretRef: { name: 'lock-token' }, timeoutSeconds: 10 } },
      ldap: { bindPasswordSecretRef: { name: 'lock-bind' }, tls: { caSecretRef: { name: 'lock-ca' }, serverName: dc.dcHostname } },
    });
    const t0 = Date.now();
    await custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body });

    const stalled = await waitObj('Stalled: InvalidCredentials', name, (o) => cond(o, 'Stalled')?.status === 'True', 60_000);
    expect(cond(stalled, 'Stalled')).toMatchObject({ reason: 'InvalidCredentials' });
    expect(cond(stalled, 'Stalled')!.message).toMatch(/Check the bind password Secret.*not retried until a referenced Secret or the spec changes/);
    expect(cond(stalled, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidCredentials' });
    expect(cond(stalled, 'Reconciling')).toBeUndefined();
    // the safety net: 15 minutes (plus jitter) ahead
    const safetyIn = Date.parse(stalled.status!.nextSyncAt!) - Date.now();
    expect(safetyIn).toBeGreaterThan(14 * 60_000);
    const stalledVerdicts = await verdicts(stalled);
    expect(stalledVerdicts.kstatus.status).toBe('Failed');
    expect(stalledVerdicts.argo).toMatchObject({ status: 'Degraded', message: expect.stringMatching(/^InvalidCredentials: /) });
    expect(JSON.stringify(stalled)).not.toContain(WRONG_PASSWORD);

    // Meanwhile: a metadata-only edit, and (at ~60 s) a leader change with a fresh list/watch.
    await waitFor('30 s', () => Date.now() - t0 > 30_000, { timeoutMs: 60_000, intervalMs: 1000 });
    await custom.patchNamespacedCustomObject({ ...G, namespace: ns.name, name, body: { metadata: { labels: { team: 'platform' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await waitFor('60 s', () => Date.now() - t0 > 60_000, { timeoutMs: 60_000, intervalMs: 1000 });
    await controller.stop();
    controller = await startOperator('second');
    await waitFor('the new leader', () => controller.isLeader(), { timeoutMs: 30_000 });

    await waitFor('3 minutes of a wrong password', () => Date.now() - t0 > 180_000, { timeoutMs: 200_000, intervalMs: 1000 });
    const lock = await lockoutState(dc, dc.bindDN);
    measured.lockout = { windowSeconds: secs(t0), badPwdCount: lock.badPwdCount, lockoutTime: lock.lockoutTime, failedRuns: await failedRuns(name, 'DirectoryError') };
    expect(lock.lockoutTime).toBe(0);
    expect(lock.badPwdCount).toBeLessThan(5);
    expect(lock.badPwdCount).toBe(1); // one bind for the one Secret version: none from status writes, the edit, the relist or the new leader
    expect(truetask.createAttempts()).toEqual([]);

    // Fix only the Secret: Ready within 60 s, with no change to the AdSync.
    const generation = (await get(name)).metadata.generation;
    const fixedAt = Date.now();
    await core.replaceNamespacedSecret({ namespace: ns.name, name: 'lock-bind', body: secret('lock-bind', { password: dc.bindPassword }) });
    const { stdout } = await run(`${inject('kubeBinDir')}/kubectl`, ['wait', '--for=condition=Ready', `adsync/${name}`, '-n', ns.name, '--timeout=60s'], {
      env: { ...process.env, KUBECONFIG: inject('kubeconfigPath') },
    });
    expect(stdout).toMatch(/condition met/);
    const readyAfter = secs(fixedAt);
    const done = await get(name);
    expect(done.metadata.generation).toBe(generation);
    expect(done.status!.lastSync).toMatchObject({ result: 'Succeeded' });
    expect(cond(done, 'Stalled')).toBeUndefined();
    expect(cond(done, 'Reconciling')).toBeUndefined();
    const created = done.status!.lastSync!.created;
    expect(created).toBeGreaterThanOrEqual(267);
    // every user created exactly once: one create attempt per email, 409s included
    const attempts = truetask.createAttempts();
    expect(attempts).toHaveLength(created);
    expect(new Set(attempts.map((a) => a.email?.toLowerCase())).size).toBe(created);
    expect(attempts.every((a) => a.status === 201)).toBe(true);
    const okVerdicts = await verdicts(done);
    expect(okVerdicts.kstatus.status).toBe('Current');
    expect(okVerdicts.argo.status).toBe('Healthy');
    expect((await lockoutState(dc, dc.bindDN)).lockoutTime).toBe(0);
    measured.lockoutRecovery = { readyAfterSecretFixSeconds: readyAfter, created, createAttempts: attempts.length };
    measured.kstatusLockout = { stalled: stalledVerdicts, recovered: okVerdicts };
  }, 600_000);

  it.concurrent('Truetask down for 2 minutes: at most 8 failed runs, InProgress meanwhile, then it recovers on its own', async () => {
    const ad = inject('ad');
    // Slow answers, so that a run lasts long enough to be seen in progress.
    const truetask = await sim(15);
    const name = 'outage';
    await core.createNamespacedSecret({ namespace: ns.name, body: secret('out-bind', { password: ad.bindPassword }) });
    await core.createNamespacedSecret({ namespace: ns.name, body: secret('out-ca', { 'ca.crt': ad.caPem }) });
    await core.createNamespacedSecret({ namespace: ns.name, body: secret('out-token', { token: TOKEN }) });
    const body = adsyncObject({
      ad,
      truetaskUrl: truetask.url,
      namespace: ns.name,
      name,
      mode: 'Sync',
      spec: { interval: '1h', truetask: { url: truetask.url, tokenSecretRef: { name: 'out-token' }, timeoutSeconds: 10 } },
      ldap: { bindPasswordSecretRef: { name: 'out-bind' }, tls: { caSecretRef: { name: 'out-ca' }, serverName: ad.dcHostname } },
    });
    await custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body });
    const inProgress = await waitObj('a run in progress', name, (o) => cond(o, 'Reconciling')?.reason === 'Progressing', 60_000);
    const runningVerdicts = await verdicts(inProgress);
    expect(runningVerdicts.kstatus.status).toBe('InProgress');
    expect(runningVerdicts.argo.status).toBe('Progressing');
    const synced = await waitObj('the first sync', name, (o) => o.status?.lastSync?.result === 'Succeeded', 120_000);
    expect((await verdicts(synced)).kstatus.status).toBe('Current');

    // Truetask goes down (every request answered 502/503/504) and a run is asked for.
    truetask.setFaults({ errorRate: 1 });
    const t0 = Date.now();
    await custom.patchNamespacedCustomObject({ ...G, namespace: ns.name, name, body: { metadata: { annotations: { 'truetask.io/sync-now': 'during-outage' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const timeline: Array<{ at: number; message: string }> = [];
    let retrying: Obj | undefined;
    while (Date.now() - t0 < 120_000) {
      const o = await get(name);
      const r = cond(o, 'Reconciling');
      if (r?.reason === 'ProgressingWithRetry' && timeline.at(-1)?.message !== r.message) {
        timeline.push({ at: secs(t0), message: r.message });
        retrying ??= o;
      }
      await new Promise((ok) => setTimeout(ok, 250)); // sampling the status for the timeline
    }
    const failedDuringOutage = await failedRuns(name, 'TruetaskError');
    truetask.setFaults({});
    if (!retrying) throw new Error('no ProgressingWithRetry status was seen during the outage');
    const retryVerdicts = await verdicts(retrying);
    expect(retryVerdicts.kstatus.status).toBe('InProgress');
    expect(retryVerdicts.argo).toMatchObject({ status: 'Progressing', message: expect.stringMatching(/^ProgressingWithRetry: TruetaskUnavailable: attempt \d+ failed; retrying at /) });
    expect(cond(retrying!, 'Stalled')).toBeUndefined();
    expect(failedDuringOutage).toBeGreaterThanOrEqual(2);
    expect(failedDuringOutage).toBeLessThanOrEqual(8);

    // Back up: it recovers on its own (no sync-now, no spec change) at its next retry.
    const recovered = await waitObj('recovery on its own', name, (o) => cond(o, 'Ready')?.status === 'True', 360_000);
    expect(recovered.status!.lastHandledSyncNow).toBe('during-outage');
    expect(cond(recovered, 'Reconciling')).toBeUndefined();
    expect((await verdicts(recovered)).kstatus.status).toBe('Current');
    // nothing was created twice across the failed runs
    const attempts = truetask.createAttempts().filter((a) => a.status === 201 || a.status === 409);
    expect(new Set(attempts.map((a) => a.email?.toLowerCase())).size).toBe(attempts.length);
    measured.outage = { downSeconds: 120, failedRuns: failedDuringOutage, timeline, recoveredAfterSeconds: secs(t0), totalFailedRuns: await failedRuns(name, 'TruetaskError') };
    measured.kstatusOutage = { running: runningVerdicts, retrying: retryVerdicts };
  }, 600_000);
});
