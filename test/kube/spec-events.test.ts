// The spec's promises the other controller tests do not reach, on the real API
// server with the Samba AD and the Truetask simulator: a Sync Now value of any
// length is handled (never wedges the AdSync), and the warning events
// SyncPartiallyFailed, InsecureTLS, AdminGroupNotFound and NoUsersFound.
import { createHash } from 'node:crypto';
import { Attribute } from 'ldapts';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { addUser, deleteEntry, withAdmin } from '../support/samba.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

interface Status {
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  lastSync?: { result: string; created: number; failed: number; message: string };
  lastHandledSyncNow?: string;
  directory?: { users: number };
}

describe('spec promises on the real API server', () => {
  const ad = inject('ad');
  let admin: KubeConfig;
  let ns: TestNamespace;
  let sim: TruetaskSimulator;
  let controller: RunningController;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  const cleanup: string[] = [];

  const get = async (name: string) => (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name })) as { status?: Status };
  const waitStatus = (what: string, name: string, pred: (s: Status) => boolean) =>
    waitFor(what, async () => {
      const o = await get(name);
      return o.status && pred(o.status) ? o.status : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
  const events = async (name: string) => (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: `involvedObject.name=${name}` })).items.map((e) => ({ reason: e.reason, type: e.type, message: e.message ?? '' }));
  const waitEvent = (name: string, reason: string) => waitFor(`event ${reason} on ${name}`, async () => (await events(name)).find((e) => e.reason === reason), { timeoutMs: 60_000 });
  const annotate = (name: string, value: string) =>
    custom.patchNamespacedCustomObject({ ...G, namespace: ns.name, name, body: { metadata: { annotations: { 'truetask.io/sync-now': value } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const create = (name: string, over: Partial<Parameters<typeof adsyncObject>[0]>) => custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body: adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, name, ...over }) });

  beforeAll(async () => {
    admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'adsync-spec');
    const operatorUser = await installOperatorRbac(admin, ns.name);
    custom = admin.makeApiClient(CustomObjectsApi);
    core = admin.makeApiClient(CoreV1Api);
    sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
    for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ns.name })) await core.createNamespacedSecret({ namespace: ns.name, body: s as never });
    controller = await startController(operatorOptions(inject('kubeconfigPath'), operatorUser, ns.name, { logger: quiet, concurrency: 2 }));
  });

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    await ns?.delete();
    // The shared AD is left as it was found.
    for (const dn of cleanup.reverse()) await deleteEntry(ad, dn).catch(() => undefined);
  });

  it('a Sync Now value of 300 or 10,000 characters is handled, and the next value still runs', async () => {
    // Only the Service Accounts OU: a small preview.
    await create('long', { ldap: { baseDN: `OU=Service Accounts,${ad.baseDN}` }, spec: { excludedOUs: [] } });
    await waitStatus('the first preview', 'long', (s) => s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);
    const hash = (v: string) => `sha256:${createHash('sha256').update(v).digest('hex')}`;
    for (const [long, next] of [
      ['a'.repeat(300), 'after-long'],
      ['b'.repeat(10_000), 'after-very-long'],
    ] as const) {
      await annotate('long', long);
      await waitStatus(`a ${long.length}-character Sync Now handled`, 'long', (s) => s.lastHandledSyncNow === hash(long));
      // Not wedged: the next value runs too.
      await annotate('long', next);
      const s = await waitStatus(`Sync Now ${next} handled`, 'long', (x) => x.lastHandledSyncNow === next);
      expect(s.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
  });

  it('SyncPartiallyFailed: one user Truetask refuses does not stop the others, and the event says so', async () => {
    const ou = `OU=Partial Events,${ad.baseDN}`;
    await withAdmin(ad, (c) => c.add(ou, [new Attribute({ type: 'objectClass', values: ['top', 'organizationalUnit'] })]));
    cleanup.push(ou);
    cleanup.push(await addUser(ad, { cn: 'Pat Fine', parentDN: ou, sAMAccountName: 'pat.fine', userPrincipalName: 'pat.fine@corp.example.com', mail: 'pat.fine@corp.example.com', displayName: 'Pat Fine' }));
    // 256 characters: AD takes it, Truetask refuses names over 255 (400).
    cleanup.push(await addUser(ad, { cn: 'Pat Long', parentDN: ou, sAMAccountName: 'pat.long', userPrincipalName: 'pat.long@corp.example.com', mail: 'pat.long@corp.example.com', displayName: 'L'.repeat(256) }));
    await create('partial', { mode: 'Sync', ldap: { baseDN: ou }, spec: { excludedOUs: [] } });
    const s = await waitStatus('a partially failed sync', 'partial', (x) => x.lastSync !== undefined);
    expect(s.lastSync).toMatchObject({ result: 'PartiallyFailed', created: 1, failed: 1 });
    expect(s.lastSync?.message).toContain('pat.long@corp.example.com');
    const e = await waitEvent('partial', 'SyncPartiallyFailed');
    expect(e.type).toBe('Warning');
    expect(e.message).toContain('1 failed');
    expect(sim.users().map((u) => u.email)).toContain('pat.fine@corp.example.com');
  });

  it('InsecureTLS and AdminGroupNotFound: warnings of a run that otherwise succeeds', async () => {
    await create('warned', {
      ldap: { baseDN: `OU=Service Accounts,${ad.baseDN}`, tls: { insecureSkipVerify: true, serverName: ad.dcHostname } },
      spec: { excludedOUs: [], adminPromotion: { enabled: true, groups: [`CN=IT-Admins,OU=Groups,${ad.baseDN}`, 'No-Such-Group'], nested: true } },
    });
    const s = await waitStatus('the preview', 'warned', (x) => x.conditions?.some((c) => c.type === 'Ready') ?? false);
    expect(s.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const insecure = await waitEvent('warned', 'InsecureTLS');
    expect(insecure).toMatchObject({ type: 'Warning' });
    expect(insecure.message).toContain('domain controller');
    const missing = await waitEvent('warned', 'AdminGroupNotFound');
    expect(missing).toMatchObject({ type: 'Warning' });
    expect(missing.message).toContain('No-Such-Group');
    expect((await events('warned')).filter((x) => x.reason === 'AdminGroupNotFound').map((x) => x.message).join()).not.toContain('IT-Admins');
  });

  it('NoUsersFound: a run that matched no user warns with the troubleshooting hints instead of a silent Ready', async () => {
    await create('empty', { ldap: { baseDN: `OU=Groups,${ad.baseDN}` }, spec: { excludedOUs: [] } });
    const s = await waitStatus('the preview', 'empty', (x) => x.conditions?.some((c) => c.type === 'Ready') ?? false);
    expect(s.directory?.users).toBe(0);
    const ready = s.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.message).toContain('No users found');
    const e = await waitEvent('empty', 'NoUsersFound');
    expect(e.type).toBe('Warning');
    expect(e.message).toContain('baseDN');
    expect(e.message).toContain('userPrincipalName');
    expect(e.message).toContain('excludedOUs');
  });
});
