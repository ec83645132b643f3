// Changed-only runs and failover through the operator, on a real kube-apiserver with the
// test Samba AD and the Truetask simulator: the first run is a full one (and fails over
// from a DC that does not answer, with a FailedOver event and status.server showing the
// DC used); a scheduled run then reads only what changed (status.lastRun Changed, one
// entry, the new hire created; the run counts as a successful sync for the alerts);
// fullSyncInterval and Sync Now bring a full run back; a wrong password with failover on
// binds once per Secret version, to the first DC only.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { startCuttingProxy, type CuttingProxy } from '../support/ldap-proxy.ts';
import { addUser, deleteEntry } from '../support/samba.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const run = promisify(execFile);
const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const DOWN = 'ldaps://127.0.0.1:1';

interface Status {
  observedGeneration?: number;
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  lastSync?: { result: string; created: number; completedAt: string };
  server?: { url: string; dsServiceName: string; invocationId: string; highestCommittedUSN: number };
  lastRun?: { kind: string; entriesRead: number; at: string; lastFullAt?: string; reason?: string };
  directory?: { users: number };
  nextSyncAt?: string;
  lastHandledSyncNow?: string;
}

describe('changed-only runs and failover in the operator', () => {
  const ad = inject('ad');
  const tag = Date.now().toString(36);
  const hire = { cn: `Hana Hire ${tag}`, sAMAccountName: `hana.${tag}`, userPrincipalName: `hana.hire.${tag}@corp.example.com` };
  let hireDn: string | undefined;
  let ns: TestNamespace;
  let sim: TruetaskSimulator;
  let controller: RunningController;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let operatorUser: string;
  const proxies: CuttingProxy[] = [];

  const get = async () => (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name: 'corp' })) as { metadata: { generation: number }; status?: Status };
  const waitStatus = (what: string, pred: (s: Status) => boolean) =>
    waitFor(what, async () => {
      const o = await get();
      return o.status && pred(o.status) ? o.status : undefined;
    }, { timeoutMs: 90_000, intervalMs: 100 });
  const patchStatus = (status: Partial<Status>) =>
    custom.patchNamespacedCustomObjectStatus({ ...G, namespace: ns.name, name: 'corp', body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const events = async () => (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=corp' })).items.map((e) => ({ reason: e.reason, type: e.type, message: e.message }));
  const metric = async (name: string, labels: string) =>
    Number(
      (await (await fetch(`${controller.url}/metrics`)).text())
        .split('\n')
        .find((l) => l.startsWith(`${name}{`) && l.includes('name="corp"') && l.includes(labels))
        ?.split(' ')
        .pop(),
    );
  const startOperator = () =>
    startController(operatorOptions(inject('kubeconfigPath'), operatorUser, ns.name, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), secretPollMs: 500 }));
  /** The schedule lives in status.nextSyncAt: moved into the past, a restarted operator finds the scheduled run due. */
  const scheduledRunNow = async (extra: Partial<Status> = {}) => {
    await controller.stop();
    await patchStatus({ nextSyncAt: '2020-01-01T00:00:00Z', ...extra });
    controller = await startOperator();
    // The run's status moves nextSyncAt one interval ahead (lastRun.at has whole seconds: it may not change).
    return waitStatus('the scheduled run', (s) => s.nextSyncAt !== undefined && Date.parse(s.nextSyncAt) > Date.now());
  };

  beforeAll(async () => {
    const admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'adsync-changed');
    operatorUser = await installOperatorRbac(admin, ns.name);
    custom = admin.makeApiClient(CustomObjectsApi);
    core = admin.makeApiClient(CoreV1Api);
    sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], passwordHashCost: 2 });
    for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ns.name })) await core.createNamespacedSecret({ namespace: ns.name, body: s as never });
    controller = await startOperator();
  });

  afterAll(async () => {
    await controller?.stop();
    for (const p of proxies) await p.close();
    await sim?.close();
    await ns?.delete();
    if (hireDn) await deleteEntry(ad, hireDn).catch(() => undefined);
  });

  it('the first run is full, fails over from a DC that does not answer, and says which DC it used', async () => {
    await custom.createNamespacedCustomObject({
      ...G,
      namespace: ns.name,
      body: adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, mode: 'Sync', ldap: { url: DOWN, failover: [{ url: ad.ldapsUrl }] }, spec: { interval: '1h', fullSyncInterval: '24h' } }),
    });
    const s = await waitStatus('the first sync', (x) => x.lastSync?.result === 'Succeeded');
    expect(s.server).toMatchObject({ url: ad.ldapsUrl, dsServiceName: expect.stringMatching(/^CN=NTDS Settings,/), invocationId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(s.lastRun).toMatchObject({ kind: 'Full', entriesRead: expect.any(Number), reason: 'the first run' });
    expect(s.lastRun?.lastFullAt).toBe(s.lastRun?.at);
    const failedOver = await waitFor('the FailedOver event', async () => (await events()).find((e) => e.reason === 'FailedOver'));
    expect(failedOver).toMatchObject({ type: 'Warning', message: `${DOWN} (ConnectionRefused) did not answer; the run used ${ad.ldapsUrl}. Check that AD DS runs on that DC and that the network path to it is open` });
    expect(await metric('truetask_adsync_directory_reads_total', 'scope="full"')).toBe(1);
  });

  it('a scheduled run reads only what changed: the new hire, one entry, created; it counts as a successful sync', async () => {
    const full = (await get()).status!;
    hireDn = await addUser(ad, { ...hire, parentDN: `OU=Sales,OU=Staff,${ad.baseDN}` });
    const gets = sim.requests('GET');
    const s = await scheduledRunNow();
    expect(s.lastRun).toEqual({ kind: 'Changed', entriesRead: 1, at: expect.any(String), lastFullAt: full.lastRun?.lastFullAt });
    expect(s.lastSync).toMatchObject({ result: 'Succeeded', created: 1 });
    expect(sim.users().map((u) => u.email)).toContain(hire.userPrincipalName);
    expect(sim.requests('GET') - gets).toBe(1); // one ?email= lookup, no listing
    expect(s.server!.highestCommittedUSN).toBeGreaterThan(full.server!.highestCommittedUSN);
    expect(s.directory?.users).toBe(full.directory?.users); // the last full run's count
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(await metric('truetask_adsync_directory_reads_total', 'scope="changed"')).toBe(1);
    expect(await metric('truetask_adsync_entries_read', 'scope="changed"')).toBe(1);
    expect(await metric('truetask_adsync_runs_total', 'kind="sync",result="success"')).toBe(1);
    expect(await metric('truetask_adsync_last_success_timestamp_seconds', 'kind="sync"')).toBeGreaterThan(Date.parse(full.lastRun!.at) / 1000);
    // kubectl get -o wide shows the kind of the last run and what it read
    const { stdout } = await run(`${inject('kubeBinDir')}/kubectl`, ['get', 'adsync', 'corp', '-n', ns.name, '-o', 'wide'], { env: { ...process.env, KUBECONFIG: inject('kubeconfigPath') } });
    const [header, row] = stdout.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    expect(header?.slice(-2)).toEqual(['RUN', 'READ']);
    expect(row?.slice(-2)).toEqual(['Changed', '1']);
  });

  it('a scheduled run once fullSyncInterval has passed since the last full run is a full run', async () => {
    const s = await scheduledRunNow({ lastRun: { ...(await get()).status!.lastRun!, lastFullAt: '2020-01-01T00:00:00Z' } });
    expect(s.lastRun).toMatchObject({ kind: 'Full', reason: 'spec.fullSyncInterval has passed since the last full run' });
    expect(s.lastRun!.entriesRead).toBeGreaterThan(100);
  });

  it('a wrong password with failover on: one bind per Secret version, to the first DC only', async () => {
    // Two fronts of the test DC that count connections (one bind each).
    const first = await startCuttingProxy(ad, () => false);
    const second = await startCuttingProxy(ad, () => false);
    proxies.push(first, second);
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'bad-bind' }, stringData: { password: 'wrong-Passw0rd!' } } });
    const obj = adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, name: 'locked', ldap: { url: first.url, failover: [{ url: second.url }], bindPasswordSecretRef: { name: 'bad-bind' } }, spec: { interval: '1h' } });
    await custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body: obj });
    const stalled = async () => {
      const o = (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name: 'locked' })) as { status?: Status };
      return o.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
    };
    expect(await waitFor('Stalled', stalled, { timeoutMs: 60_000 })).toMatchObject({ reason: 'InvalidCredentials' });
    expect([first.connections(), second.connections()]).toEqual([1, 0]);
    // The fixed Secret runs it again: one more bind, to the first DC, which answers.
    await core.replaceNamespacedSecret({ namespace: ns.name, name: 'bad-bind', body: { metadata: { name: 'bad-bind' }, stringData: { password: ad.bindPassword } } });
    await waitFor('Ready after the fixed Secret', async () => {
      const o = (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name: 'locked' })) as { status?: Status };
      return o.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
    }, { timeoutMs: 60_000 });
    expect([first.connections(), second.connections()]).toEqual([2, 0]);
  });

  it('Sync Now reads everything', async () => {
    await custom.patchNamespacedCustomObject(
      { ...G, namespace: ns.name, name: 'corp', body: { metadata: { annotations: { 'truetask.io/sync-now': `now-${tag}` } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const s = await waitStatus('the Sync Now run', (x) => x.lastHandledSyncNow === `now-${tag}`);
    expect(s.lastRun).toMatchObject({ kind: 'Full', reason: 'Sync Now: a run asked for by a person reads everything' });
  });
});
