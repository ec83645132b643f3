// status.leavers and the truetask_adsync_leavers gauge: the operator on a real
// kube-apiserver, against the Samba AD and the Truetask simulator. An AD user is
// disabled and then deleted between runs; the report follows, nothing is written
// because of it, a failed full run keeps it (stale), and a restarted operator
// exports it again before its next run.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { isDisabledAccountsSearch, startCuttingProxy, type CuttingProxy } from '../support/ldap-proxy.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { addUser, deleteEntry, modifyEntry } from '../support/samba.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

interface Leavers {
  generatedAt: string;
  disabled: number;
  notInDirectory: number;
  users: Array<{ email: string; name: string; role: string; reason: string }>;
  truncated: boolean;
  stale: boolean;
}
interface Status {
  conditions?: Array<{ type: string; status: string; reason: string }>;
  preview?: { toCreate: number; toPromote: number };
  lastSync?: { result: string; created: number; promoted: number };
  lastHandledSyncNow?: string;
  leavers?: Leavers;
}

describe('the leavers report of the operator', () => {
  const ad = inject('ad');
  const suffix = randomBytes(3).toString('hex');
  const lea = { cn: `Lea Ver ${suffix}`, sam: `lea.ver.${suffix}`, email: `lea.ver.${suffix}@corp.example.com` };
  let leaDN: string | undefined;
  let admin: KubeConfig;
  let ns: TestNamespace;
  let sim: TruetaskSimulator;
  let controller: RunningController;
  let custom: CustomObjectsApi;
  let operatorUser: string;
  let proxy: CuttingProxy;

  const get = async () => (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name: 'corp' })) as { status?: Status };
  const patch = (body: unknown) => custom.patchNamespacedCustomObject({ ...G, namespace: ns.name, name: 'corp', body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const waitStatus = (what: string, pred: (s: Status) => boolean) =>
    waitFor(what, async () => {
      const s = (await get()).status;
      return s && pred(s) ? s : undefined;
    }, { timeoutMs: 90_000, intervalMs: 100 });
  let n = 0;
  /** Sync Now, and the status once that run is done. */
  const runOnce = async (): Promise<Status> => {
    const value = `run-${n++}`;
    await patch({ metadata: { annotations: { 'truetask.io/sync-now': value } } });
    return waitStatus(`run ${value}`, (s) => s.lastHandledSyncNow === value && !s.conditions?.some((c) => c.type === 'Reconciling'));
  };
  const gauge = async (reason: string, c = controller) => {
    const text = await (await fetch(`${c.url}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith('truetask_adsync_leavers{') && l.includes(`namespace="${ns.name}"`) && l.includes(`reason="${reason}"`));
    return lines.length === 1 ? Number(lines[0]?.split(' ').pop()) : undefined;
  };
  const startOperator = () =>
    startController(
      operatorOptions(inject('kubeconfigPath'), operatorUser, ns.name, {
        logger: quiet,
        schedule: { retryBaseMs: 500, retryMaxMs: 2000, safetyNetMs: 2000 },
        secretPollMs: 500,
      }),
    );

  beforeAll(async () => {
    admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'adsync-leavers');
    operatorUser = await installOperatorRbac(admin, ns.name);
    custom = admin.makeApiClient(CustomObjectsApi);
    leaDN = await addUser(ad, { cn: lea.cn, parentDN: `OU=Sales,OU=Staff,${ad.baseDN}`, sAMAccountName: lea.sam, userPrincipalName: lea.email, displayName: lea.cn });
    sim = await startTruetaskSimulator({
      tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }],
      users: [
        { email: 'owner@corp.example.com', name: 'The Owner', role: 'owner' }, // an owner AD does not have: never listed
        { email: 'annie.easley@corp.example.com', name: 'Annie Easley', role: 'user' }, // disabled in AD (fixture)
        { email: 'Dennis.Ritchie@CORP.example.com', name: 'Dennis Ritchie', role: 'admin' }, // disabled in AD, another case
        { email: 'old.hire@corp.example.com', name: 'Old Hire', role: 'user' }, // AD has no such account
        { email: 'svc-backup@corp.example.com', name: 'Backup service', role: 'user' }, // in the excluded OU
        { email: 'ALAN.TURING@Corp.Example.COM', name: 'Alan Turing', role: 'user' }, // active in AD, another case
        { email: 'contractor@partner.example.org', name: 'Invited Contractor', role: 'user' }, // another domain
        { email: lea.email, name: lea.cn, role: 'user' }, // active in AD now; disabled, then deleted below
      ],
    });
    proxy = await startCuttingProxy(ad, isDisabledAccountsSearch, 0);
    controller = await startOperator();
    const coreApi = admin.makeApiClient(CoreV1Api);
    for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ns.name })) await coreApi.createNamespacedSecret({ namespace: ns.name, body: s as never });
    // Through the proxy (which cuts nothing until told to), in Preview mode, manual interval.
    await custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body: adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, ldap: { url: proxy.url } }) });
  });

  afterAll(async () => {
    await controller?.stop();
    await proxy?.close();
    await sim?.close();
    await ns?.delete();
    if (leaDN) await deleteEntry(ad, leaDN).catch(() => undefined); // when a test failed before deleting it
  });

  const base = [
    { email: 'annie.easley@corp.example.com', name: 'Annie Easley', role: 'user', reason: 'Disabled' },
    { email: 'Dennis.Ritchie@CORP.example.com', name: 'Dennis Ritchie', role: 'admin', reason: 'Disabled' },
  ];
  const oldHire = { email: 'old.hire@corp.example.com', name: 'Old Hire', role: 'user', reason: 'NotInDirectory' };

  it('a preview reports the leavers in status.leavers and the gauge, and writes nothing', async () => {
    const s = await waitStatus('first preview with leavers', (st) => st.leavers !== undefined && st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true);
    expect(s.leavers).toMatchObject({ disabled: 2, notInDirectory: 1, truncated: false, stale: false });
    expect(s.leavers?.users).toEqual([...base, oldHire]);
    expect(await gauge('Disabled')).toBe(2);
    expect(await gauge('NotInDirectory')).toBe(1);
    expect(sim.audit()).toEqual([]);
  });

  it('follows AD: a user disabled, then deleted, is listed Disabled, then NotInDirectory; still nothing written', async () => {
    await modifyEntry(ad, leaDN!, { userAccountControl: '514' });
    const disabled = await runOnce();
    expect(disabled.leavers?.users).toEqual([...base, { email: lea.email, name: lea.cn, role: 'user', reason: 'Disabled' }, oldHire]);
    expect(await gauge('Disabled')).toBe(3);

    await deleteEntry(ad, leaDN!);
    leaDN = undefined;
    const deleted = await runOnce();
    expect(deleted.leavers?.users).toEqual([...base, { email: lea.email, name: lea.cn, role: 'user', reason: 'NotInDirectory' }, oldHire]);
    expect(deleted.leavers).toMatchObject({ disabled: 2, notInDirectory: 2, stale: false });
    expect(await gauge('Disabled')).toBe(2);
    expect(await gauge('NotInDirectory')).toBe(2);
    expect(sim.audit()).toEqual([]);
  });

  it('in Sync mode the run writes only what it planned, and the leavers stay untouched', async () => {
    const planned = (await get()).status!.preview!;
    await patch({ spec: { mode: 'Sync' } });
    const synced = await waitStatus('synced', (s) => s.conditions?.some((c) => c.type === 'Synced' && c.status === 'True') === true);
    expect(synced.lastSync).toMatchObject({ result: 'Succeeded', created: planned.toCreate, promoted: planned.toPromote });
    const audit = sim.audit();
    expect(audit.filter((a) => a.change.op === 'create')).toHaveLength(planned.toCreate);
    expect(audit.filter((a) => a.change.op === 'update')).toHaveLength(planned.toPromote);
    expect(audit).toHaveLength(planned.toCreate + planned.toPromote);
    const leavers = [...base.map((u) => u.email), lea.email, oldHire.email, 'owner@corp.example.com', 'contractor@partner.example.org', 'svc-backup@corp.example.com'];
    expect(audit.filter((a) => leavers.some((e) => e.toLowerCase() === a.email.toLowerCase()))).toEqual([]);
    expect(sim.users().filter((u) => leavers.includes(u.email)).map((u) => `${u.email}:${u.role}`).sort()).toEqual(
      ['annie.easley@corp.example.com:user', 'Dennis.Ritchie@CORP.example.com:admin', `${lea.email}:user`, 'old.hire@corp.example.com:user', 'owner@corp.example.com:owner', 'contractor@partner.example.org:user', 'svc-backup@corp.example.com:user'].sort(),
    );
    expect(synced.leavers).toMatchObject({ disabled: 2, notInDirectory: 2, stale: false });
  });

  it('a failed full run keeps the report, marked stale (a partial AD read, then Truetask unreachable); the next success refreshes it', async () => {
    const before = (await get()).status!.leavers!;
    const writes = sim.audit().length;

    // The disabled-accounts search is cut every time: the users were read, the read as a whole failed.
    proxy.setCuts(Number.POSITIVE_INFINITY);
    await patch({ metadata: { annotations: { 'truetask.io/sync-now': 'partial-read' } } });
    const partial = await waitStatus('stale after a partial read', (s) => s.lastHandledSyncNow === 'partial-read' && s.leavers?.stale === true);
    expect(partial.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ConnectionLost' });
    expect(partial.leavers).toEqual({ ...before, stale: true });
    expect(await gauge('Disabled')).toBe(2);
    expect(await gauge('NotInDirectory')).toBe(2);
    // interval: manual retries nothing on its own: Sync Now once the DC answers again
    proxy.setCuts(0);
    const recovered = await runOnce();
    expect(recovered.leavers).toMatchObject({ stale: false, disabled: 2, notInDirectory: 2 });
    expect(recovered.leavers?.users).toEqual(before.users);
    expect(Date.parse(recovered.leavers!.generatedAt)).toBeGreaterThanOrEqual(Date.parse(before.generatedAt));

    // Truetask answers 503 to everything: the listing fails.
    sim.setFaults({ errorRate: 1 });
    await patch({ metadata: { annotations: { 'truetask.io/sync-now': 'truetask-down' } } });
    const down = await waitStatus('stale after a failed listing', (s) => s.lastHandledSyncNow === 'truetask-down' && s.leavers?.stale === true);
    expect(down.conditions?.find((c) => c.type === 'TruetaskConnected')?.status).toBe('False');
    expect(down.leavers?.users).toEqual(before.users);
    sim.setFaults({});
    expect((await runOnce()).leavers).toMatchObject({ stale: false, disabled: 2, notInDirectory: 2 });
    expect(sim.audit()).toHaveLength(writes);
  });

  it('a restarted operator exports the gauge from status.leavers before any run', async () => {
    const runs = (await get()).status!.leavers!.generatedAt;
    await controller.stop();
    controller = await startOperator();
    await waitFor('the gauge on the new operator', async () => (await gauge('NotInDirectory')) === 2);
    expect(await gauge('Disabled')).toBe(2);
    expect((await get()).status!.leavers!.generatedAt).toBe(runs); // no run happened (interval manual)
  });
});
