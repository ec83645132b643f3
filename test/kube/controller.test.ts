// The operator end to end on a real kube-apiserver, against the Samba AD and the
// Truetask simulator, running under the RBAC it ships (impersonating its
// ServiceAccount).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { addMember, addUser } from '../support/samba.ts';
import { adsyncObject, scenarioYaml, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';
import { adsync, tempFile } from '../support/cli.ts';

const run = promisify(execFile);
const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };

interface Status {
  observedGeneration?: number;
  conditions?: Array<{ type: string; status: string; reason: string; message: string; lastTransitionTime: string }>;
  preview?: { generatedAt: string; toCreate: number; toPromote: number; unchanged: number; skipped: number; users: unknown[] };
  lastSync?: { result: string; created: number; promoted: number; failed: number };
  lastHandledSyncNow?: string;
  directory?: { users: number; adminGroups?: Array<{ ref: string; found: boolean; members: number }> };
  nextSyncAt?: string;
}

const READ_ONLY_TOKEN = 'tt-read-only-token-0123456789';
const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('the AdSync controller', () => {
  const ad = inject('ad');
  let admin: KubeConfig;
  let ns: TestNamespace;
  let sim: TruetaskSimulator;
  let controller: RunningController;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let operatorUser: string;

  const get = async (name = 'corp') => (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name })) as { metadata: { generation: number; annotations?: Record<string, string> }; status?: Status };
  const condition = (s: Status | undefined, type: string) => s?.conditions?.find((c) => c.type === type);
  const patch = (name: string, body: unknown) => custom.patchNamespacedCustomObject({ ...G, namespace: ns.name, name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const waitStatus = (what: string, pred: (s: Status, o: Awaited<ReturnType<typeof get>>) => boolean, name = 'corp', timeoutMs = 60_000) =>
    waitFor(what, async () => {
      const o = await get(name);
      return o.status && pred(o.status, o) ? o : undefined;
    }, { timeoutMs, intervalMs: 100 });
  const events = async (name = 'corp') =>
    (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: `involvedObject.name=${name}` })).items.map((e) => ({ reason: e.reason, type: e.type, message: e.message, count: e.count }));
  const metricsText = async () => (await fetch(`${controller.url}/metrics`)).text();
  const value = (line: string | undefined) => Number(line?.split(' ').pop());
  const waitEvent = (reason: string, name = 'corp', type?: string) =>
    waitFor(`event ${reason} on ${name}`, async () => (await events(name)).find((e) => e.reason === reason && (!type || e.type === type)));
  const createSecrets = async (over: Partial<Parameters<typeof secretObjects>[0]> = {}, only?: string[]) => {
    for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ns.name, ...over })) {
      const name = (s.metadata as { name: string }).name;
      if (only && !only.includes(name)) continue;
      await core.createNamespacedSecret({ namespace: ns.name, body: s as never }).catch(async (err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
        await core.replaceNamespacedSecret({ namespace: ns.name, name, body: s as never });
      });
    }
  };
  const createAdSync = (name: string, over: Partial<Parameters<typeof adsyncObject>[0]> = {}) =>
    custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body: adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, name, ...over }) });

  beforeAll(async () => {
    admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'adsync-e2e');
    operatorUser = await installOperatorRbac(admin, ns.name);
    custom = admin.makeApiClient(CustomObjectsApi);
    core = admin.makeApiClient(CoreV1Api);
    sim = await startTruetaskSimulator({
      tokens: [
        { name: TOKEN_NAME, token: TOKEN, scope: 'read_write' },
        { name: 'read-only', token: READ_ONLY_TOKEN, scope: 'read' },
      ],
      users: [
        // In AD and in an admin group, but Truetask's owner: never "promoted" to admin.
        { email: 'ada.lovelace@corp.example.com', name: 'Ada Lovelace', role: 'owner' },
        // In AD, in no admin group, but an admin in Truetask: never downgraded to user.
        { email: 'katherine.johnson@corp.example.com', name: 'Katherine Johnson', role: 'admin' },
      ],
    });
    controller = await startOperator();
    await createSecrets();
  });

  const startOperator = () =>
    startController(
      operatorOptions(inject('kubeconfigPath'), operatorUser, ns.name, {
        logger: quiet,
        leaderElect: true,
        leaseDurationSeconds: 4,
        renewDeadlineSeconds: 3,
        retryPeriodSeconds: 1,
        concurrency: 2,
        // Shortened so that the tests see them happen; failure.test.ts runs the product's policy.
        schedule: { retryBaseMs: 500, retryMaxMs: 4000, safetyNetMs: 2000 },
        secretPollMs: 500,
      }),
    );

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    await ns?.delete();
  });

  it('previews without writing, syncs on mode: Sync, and a second run writes nothing', async () => {
    await createAdSync('corp');
    const previewed = await waitStatus('preview ready', (s) => condition(s, 'Ready')?.status === 'True' && s.preview !== undefined);
    const s = previewed.status!;
    expect(condition(s, 'Synced')).toMatchObject({ status: 'False', reason: 'PreviewMode' });
    expect(condition(s, 'DirectoryConnected')).toMatchObject({ status: 'True', reason: 'Connected' });
    expect(s.preview!.toCreate).toBeGreaterThan(100);
    expect(s.preview!.users.length).toBe(100);
    expect(s.lastSync).toBeUndefined();
    expect(sim.audit()).toEqual([]);
    await waitEvent('PreviewReady', 'corp', 'Normal');
    // The simulator is http://, opted into (spec.truetask.insecurePlaintext): said at every run, and in the status.
    expect(condition(s, 'InsecureTransport')).toMatchObject({ status: 'True', reason: 'InsecurePlaintext', message: expect.stringMatching(/Truetask API token .* clear text .*use an https:\/\/ URL/) });
    expect((await waitEvent('InsecurePlaintext', 'corp', 'Warning')).message).toMatch(/^Clear text on purpose: the Truetask API token/);

    const toCreate = s.preview!.toCreate;
    const toPromote = s.preview!.toPromote;
    await patch('corp', { spec: { mode: 'Sync' } });
    const { stdout } = await run(`${inject('kubeBinDir')}/kubectl`, ['wait', '--for=condition=Synced', `adsync/corp`, '-n', ns.name, '--timeout=90s'], {
      env: { ...process.env, KUBECONFIG: inject('kubeconfigPath') },
    });
    expect(stdout).toMatch(/condition met/);
    const synced = (await get()).status!;
    expect(synced.lastSync).toMatchObject({ result: 'Succeeded', created: toCreate, promoted: toPromote, failed: 0 });
    expect(synced.preview).toMatchObject({ toCreate: 0, toPromote: 0, users: [] }); // nothing left to do
    const creates = sim.audit().filter((a) => a.change.op === 'create');
    expect(creates).toHaveLength(toCreate);
    // nobody created twice: every create the simulator was asked for (409s included) is a distinct email, and succeeded
    const attempts = sim.createAttempts();
    expect(attempts).toHaveLength(toCreate);
    expect(new Set(attempts.map((a) => a.email?.toLowerCase())).size).toBe(toCreate);
    expect(attempts.every((a) => a.status === 201)).toBe(true);
    expect(sim.audit().every((a) => a.token === TOKEN_NAME)).toBe(true);
    // never a downgrade: AD users who are Truetask's owner (in an admin group) or an admin (in none) are untouched
    expect(sim.users().find((u) => u.email === 'ada.lovelace@corp.example.com')?.role).toBe('owner');
    expect(sim.users().find((u) => u.email === 'katherine.johnson@corp.example.com')?.role).toBe('admin');
    expect(sim.audit().some((a) => a.email === 'ada.lovelace@corp.example.com' || a.email === 'katherine.johnson@corp.example.com')).toBe(false);
    expect(sim.requests('PATCH')).toBe(toPromote);
    await waitEvent('SyncSucceeded', 'corp', 'Normal');

    const writes = sim.audit().length;
    await patch('corp', { metadata: { annotations: { 'truetask.io/sync-now': 'second' } } });
    const again = await waitStatus('sync-now handled', (st) => st.lastHandledSyncNow === 'second');
    expect(again.status!.lastSync).toMatchObject({ result: 'Succeeded', created: 0, promoted: 0 });
    expect(sim.audit()).toHaveLength(writes);
    expect(sim.createAttempts()).toHaveLength(toCreate); // not even attempted again (the simulator would refuse a duplicate with 409)
  });

  it('picks up an AD change at the next run: a new user, and a new admin-group member', async () => {
    const dn = await addUser(ad, { cn: 'Nora New', parentDN: `OU=Sales,OU=Staff,${ad.baseDN}`, sAMAccountName: 'nora.new', userPrincipalName: 'nora.new@corp.example.com', displayName: 'Nora New' });
    await addMember(ad, `CN=Platform-Admins,OU=Groups,${ad.baseDN}`, `CN=Alan Turing,OU=Engineering,OU=Staff,${ad.baseDN}`);
    const before = sim.audit().length;
    await patch('corp', { metadata: { annotations: { 'truetask.io/sync-now': 'ad-changed' } } });
    const after = await waitStatus('AD change synced', (s) => s.lastHandledSyncNow === 'ad-changed');
    expect(after.status!.lastSync).toMatchObject({ result: 'Succeeded', created: 1, promoted: 1 });
    const news = sim.audit().slice(before);
    expect(news).toHaveLength(2);
    expect(news).toEqual(expect.arrayContaining([
      expect.objectContaining({ email: 'nora.new@corp.example.com', change: expect.objectContaining({ op: 'create', role: 'user', name: 'Nora New' }) }),
      expect.objectContaining({ email: 'alan.turing@corp.example.com', change: { op: 'update', role: { from: 'user', to: 'admin' } } }),
    ]));
    expect(dn).toMatch(/^CN=Nora New,/);
  });

  it('keeps the transition time of conditions that did not change', async () => {
    const before = condition((await get()).status, 'Ready')!.lastTransitionTime;
    await patch('corp', { metadata: { annotations: { 'truetask.io/sync-now': 'third' } } });
    const after = await waitStatus('third run', (s) => s.lastHandledSyncNow === 'third');
    expect(condition(after.status, 'Ready')!.lastTransitionTime).toBe(before);
  });

  it('suspend stops runs, even Sync Now, until it is lifted', async () => {
    await patch('corp', { spec: { suspend: true }, metadata: { annotations: { 'truetask.io/sync-now': 'while-suspended' } } });
    const gen = (await get()).metadata.generation;
    const suspended = await waitStatus('suspended status', (s) => s.observedGeneration === gen && s.nextSyncAt === undefined);
    expect(suspended.status!.lastHandledSyncNow).toBe('third');
    await patch('corp', { spec: { suspend: false } });
    await waitStatus('resumed and sync-now handled', (s) => s.lastHandledSyncNow === 'while-suspended');
  });

  it('refuses invalid specs at admission with a message that says what to fix', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['bad-scheme', { ldap: { url: 'http://dc1:389' } }, /must be ldap:\/\/HOST|should match/],
      ['starttls-ldaps', { ldap: { startTLS: true } }, /startTLS: true needs an ldap:\/\/ URL/],
      ['no-groups', { spec: { adminPromotion: { enabled: true, groups: [] } } }, /adminPromotion.groups is empty/],
      ['page-zero', { ldap: { pageSize: 0 } }, /pageSize/],
      ['bad-attribute', { spec: { emailAttribute: 'email' } }, /emailAttribute/],
      ['bad-interval', { spec: { interval: 'daily' } }, /interval/],
      ['short-interval', { spec: { interval: '30s' } }, /at least 1m/],
    ];
    for (const [name, over, message] of cases) {
      const body = adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, name, ...(over as object) }) as { spec: Record<string, unknown> };
      if (over.ldap) body.spec.ldap = { ...(body.spec.ldap as object), ...(over.ldap as object) };
      const err = await custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body }).then(
        () => undefined,
        (e: unknown) => e as { code?: number; body?: string },
      );
      expect(err, `${name}: ${JSON.stringify(body.spec)}`).toBeDefined();
      expect(err!.code, name).toBe(422);
      expect(String(err!.body), name).toMatch(message);
    }
  });

  it('reports a missing Secret, a wrong password, an unreachable DC and a rejected token, and recovers once fixed', async () => {
    // a missing Secret
    await createAdSync('missing', { spec: { interval: 'manual' }, ldap: { bindPasswordSecretRef: { name: 'not-there' } } });
    let o = await waitStatus('SecretNotFound', (s) => condition(s, 'Ready')?.reason === 'SecretNotFound', 'missing');
    expect(condition(o.status, 'Ready')?.message).toMatch(/not-there/);
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'not-there' }, stringData: { password: ad.bindPassword } } });
    await waitStatus('recovered from missing Secret', (s) => condition(s, 'Ready')?.status === 'True', 'missing');

    // a wrong bind password, fixed by rotating the Secret
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'wrong-pw' }, stringData: { password: 'Wrong-password-1' } } });
    await createAdSync('wrongpw', { ldap: { bindPasswordSecretRef: { name: 'wrong-pw' } } });
    o = await waitStatus('InvalidCredentials', (s) => condition(s, 'Ready')?.reason === 'InvalidCredentials', 'wrongpw');
    expect(condition(o.status, 'DirectoryConnected')).toMatchObject({ status: 'False', reason: 'InvalidCredentials' });
    expect(condition(o.status, 'Stalled')?.status).toBe('True');
    expect(condition(o.status, 'Stalled')?.message).toMatch(/try both bindDN formats.*not retried until a referenced Secret or the spec changes|interval is manual/);
    expect(condition(o.status, 'Reconciling')).toBeUndefined();
    expect(JSON.stringify(o)).not.toContain('Wrong-password-1');
    await waitEvent('DirectoryError', 'wrongpw', 'Warning');
    await core.replaceNamespacedSecret({ namespace: ns.name, name: 'wrong-pw', body: { metadata: { name: 'wrong-pw' }, stringData: { password: ad.bindPassword } } });
    o = await waitStatus('recovered from wrong password', (s) => condition(s, 'Ready')?.status === 'True', 'wrongpw');
    expect(condition(o.status, 'Stalled')).toBeUndefined();

    // an unreachable DC, fixed by correcting the URL
    await createAdSync('unreachable', { ldap: { url: 'ldaps://127.0.0.1:1', tls: { caSecretRef: { name: 'ad-ca' }, serverName: ad.dcHostname } } });
    o = await waitStatus('ConnectionRefused', (s) => condition(s, 'Ready')?.reason === 'ConnectionRefused', 'unreachable');
    expect(condition(o.status, 'Ready')?.message).toMatch(/Get-Service NTDS/);
    await patch('unreachable', { spec: { ldap: { url: ad.ldapsUrl } } });
    await waitStatus('recovered from unreachable DC', (s) => condition(s, 'Ready')?.status === 'True', 'unreachable');

    // a rejected API token, fixed by rotating the Secret
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'bad-token' }, stringData: { token: 'not-a-valid-token' } } });
    await createAdSync('badtoken', { spec: { truetask: { url: sim.url, insecurePlaintext: true, tokenSecretRef: { name: 'bad-token' } } } });
    o = await waitStatus('Unauthorized', (s) => condition(s, 'Ready')?.reason === 'Unauthorized', 'badtoken');
    expect(condition(o.status, 'TruetaskConnected')).toMatchObject({ status: 'False', reason: 'Unauthorized' });
    expect(JSON.stringify(await waitEvent('TruetaskError', 'badtoken', 'Warning'))).not.toContain('not-a-valid-token');
    await core.replaceNamespacedSecret({ namespace: ns.name, name: 'bad-token', body: { metadata: { name: 'bad-token' }, stringData: { token: TOKEN } } });
    await waitStatus('recovered from bad token', (s) => condition(s, 'Ready')?.status === 'True', 'badtoken');

    // a token that may read but not write: the sync fails with Forbidden and is retried; a new token fixes it
    await addUser(ad, { cn: 'Rita Readonly', sAMAccountName: 'rita.readonly', userPrincipalName: 'rita.readonly@corp.example.com' });
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'ro-token' }, stringData: { token: READ_ONLY_TOKEN } } });
    await createAdSync('readonly', { mode: 'Sync', spec: { excludedOUs: [`OU=Staff,${ad.baseDN}`, `OU=Service Accounts,${ad.baseDN}`, `OU=Contractors,${ad.baseDN}`], truetask: { url: sim.url, insecurePlaintext: true, tokenSecretRef: { name: 'ro-token' } } } });
    o = await waitStatus('Forbidden', (s) => condition(s, 'Ready')?.reason === 'Forbidden', 'readonly');
    expect(o.status!.lastSync).toMatchObject({ result: 'Failed', created: 0 });
    // a person must act; interval is manual, so no attempt on its own: only a changed Secret, the spec or Sync Now
    expect(condition(o.status, 'Stalled')).toMatchObject({ status: 'True', reason: 'Forbidden' });
    expect(o.status!.nextSyncAt).toBeUndefined();
    await waitEvent('SyncFailed', 'readonly', 'Warning');
    await core.replaceNamespacedSecret({ namespace: ns.name, name: 'ro-token', body: { metadata: { name: 'ro-token' }, stringData: { token: TOKEN } } });
    o = await waitStatus('recovered from a read-only token', (s) => s.lastSync?.result === 'Succeeded', 'readonly');
    expect(condition(o.status, 'Synced')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(sim.users().some((u) => u.email === 'rita.readonly@corp.example.com')).toBe(true);
  });

  it('a stalled AdSync makes one safety-net attempt per period, and no other (a wrong password with an interval)', async () => {
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'safety-pw' }, stringData: { password: 'Wrong-password-2' } } });
    await createAdSync('safety', { spec: { interval: '1h' }, ldap: { bindPasswordSecretRef: { name: 'safety-pw' } } });
    const binds = async () => value((await metricsText()).split('\n').find((l) => l.startsWith('truetask_adsync_ldap_errors_total') && l.includes('name="safety"') && l.includes('reason="InvalidCredentials"')));
    const o = await waitFor('three safety-net attempts after the first, seen between two attempts', async () => {
      if ((await binds()) < 4) return undefined;
      const x = await get('safety');
      return condition(x.status, 'Stalled')?.status === 'True' ? x : undefined;
    }, { timeoutMs: 60_000 });
    // each attempt schedules the next one a whole period (plus jitter) after it ended
    const stalled = condition(o.status, 'Stalled')!;
    expect(stalled.reason).toBe('InvalidCredentials');
    const next = Date.parse(o.status!.nextSyncAt!);
    expect(stalled.message).toContain(`safety-net attempt at ${o.status!.nextSyncAt}`);
    // Stalled is removed while a run is in progress, so its transition time is when the last attempt failed.
    const failedAt = Date.parse(stalled.lastTransitionTime);
    expect(next - failedAt).toBeGreaterThanOrEqual(2000 - 1000); // RFC 3339 seconds
    expect(next - failedAt).toBeLessThanOrEqual(2200 + 1000);
    // every bind was a run of its own, reported once (the event follows the bind within the same run)
    const failures = (await events('safety')).filter((e) => e.reason === 'DirectoryError').reduce((n, e) => n + (e.count ?? 1), 0);
    const after = await binds();
    expect(failures).toBeLessThanOrEqual(after);
    expect(after - failures).toBeLessThanOrEqual(1);
    await custom.deleteNamespacedCustomObject({ ...G, namespace: ns.name, name: 'safety' });
  });

  it('serves the spec metrics with the right values', async () => {
    const text = await (await fetch(`${controller.url}/metrics`)).text();
    const series = (name: string, obj = 'corp') => text.split('\n').filter((l) => l.startsWith(name) && l.includes(`namespace="${ns.name}"`) && l.includes(`name="${obj}"`));
    const status = (await get()).status!;
    expect(value(series('truetask_adsync_ready')[0])).toBe(1);
    expect(value(series('truetask_adsync_directory_users')[0])).toBe(status.directory!.users);
    expect(value(series('truetask_adsync_interval_seconds')[0])).toBe(0);
    expect(value(series('truetask_adsync_runs_total').find((l) => l.includes('kind="sync"') && l.includes('result="success"')))).toBeGreaterThanOrEqual(3);
    // every create in the audit log came from "corp", but Rita's (from "readonly")
    expect(value(series('truetask_adsync_users_created_total')[0])).toBe(sim.audit().filter((a) => a.change.op === 'create' && !a.email.startsWith('rita.')).length);
    expect(value(series('truetask_adsync_users_created_total', 'readonly')[0])).toBe(1);
    expect(value(series('truetask_adsync_users_promoted_total')[0])).toBe(sim.audit().filter((a) => a.change.op === 'update').length);
    expect(series('truetask_adsync_planned_users').some((l) => l.includes('action="create"'))).toBe(true);
    expect(text).toMatch(/truetask_adsync_truetask_requests_total\{[^}]*method="GET"[^}]*code="200"/);
    expect(text).toMatch(/truetask_adsync_ldap_errors_total\{[^}]*reason="InvalidCredentials"/);
    // ldaps:// to the DC, http:// (opted into) to the simulator
    expect(value(series('truetask_adsync_insecure_transport').find((l) => l.includes('kind="ldap"')))).toBe(0);
    expect(value(series('truetask_adsync_insecure_transport').find((l) => l.includes('kind="truetask"')))).toBe(1);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(ad.bindPassword);
  });

  it('drops the series of a deleted AdSync from /metrics', async () => {
    const has = async (obj: string) => (await (await fetch(`${controller.url}/metrics`)).text()).includes(`namespace="${ns.name}",name="${obj}"`);
    expect(await has('missing')).toBe(true);
    await custom.deleteNamespacedCustomObject({ ...G, namespace: ns.name, name: 'missing' });
    await waitFor('series of the deleted AdSync gone', async () => !(await has('missing')));
    expect(await has('corp')).toBe(true);
  });

  it('the shipped RBAC is enough for all of the above, and no more', async () => {
    const asOperator = kubeConfigFor(inject('kubeconfigPath'), { impersonate: operatorUser });
    const can = async (verb: string, resource: string, namespace = ns.name, group = '', ...extra: string[]) => {
      const { stdout } = await run(`${inject('kubeBinDir')}/kubectl`, ['auth', 'can-i', verb, group ? `${resource}.${group}` : resource, '-n', namespace, `--as=${operatorUser}`, ...extra], {
        env: { ...process.env, KUBECONFIG: inject('kubeconfigPath') },
      }).catch((e: { stdout: string }) => e);
      return stdout.trim() === 'yes';
    };
    expect(await can('get', 'secrets')).toBe(true);
    expect(await can('list', 'secrets')).toBe(false);
    expect(await can('watch', 'secrets')).toBe(false);
    expect(await can('update', 'adsyncs', ns.name, 'truetask.io')).toBe(false);
    expect(await can('delete', 'adsyncs', ns.name, 'truetask.io')).toBe(false);
    expect(await can('create', 'pods')).toBe(false);
    expect(await can('delete', 'leases', ns.name, 'coordination.k8s.io')).toBe(false);
    expect(await can('patch', 'adsyncs', ns.name, 'truetask.io', '--subresource=status')).toBe(true);
    expect(await can('update', 'adsyncs', ns.name, 'truetask.io', '--subresource=status')).toBe(false); // status is patched, never replaced
    // The controller above ran as this identity: it can get a Secret, and is refused a list of them.
    const secrets = asOperator.makeApiClient(CoreV1Api);
    expect((await secrets.readNamespacedSecret({ namespace: ns.name, name: 'ad-bind' })).metadata?.name).toBe('ad-bind');
    expect(await secrets.listNamespacedSecret({ namespace: ns.name }).then(() => 200, (e: { code?: number }) => e.code)).toBe(403);
  });

  it('runs on schedule: nextSyncAt is one interval (plus jitter) ahead, and a restarted controller runs one that is due', async () => {
    await createAdSync('scheduled', { spec: { interval: '1h', excludedOUs: [`OU=Staff,${ad.baseDN}`] } });
    const first = await waitStatus('first scheduled preview', (s) => condition(s, 'Ready')?.status === 'True', 'scheduled');
    const generatedAt = first.status!.preview!.generatedAt;
    const next = Date.parse(first.status!.nextSyncAt!) - Date.parse(generatedAt);
    expect(next).toBeGreaterThanOrEqual(3600_000 - 1000);
    expect(next).toBeLessThanOrEqual(3960_000 + 1000);
    // A status-only change is not a trigger (the controller's own writes are status-only changes too) ...
    await custom.patchNamespacedCustomObjectStatus(
      { ...G, namespace: ns.name, name: 'scheduled', body: { status: { nextSyncAt: '2020-01-01T00:00:00Z' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const series = async (metric: string) => value((await metricsText()).split('\n').find((l) => l.startsWith(metric) && l.includes('name="scheduled"') && (!metric.includes('runs') || l.includes('kind="preview",result="success"'))));
    // ... but the schedule lives in the status: a restarted controller (or a new leader) finds this run due, as if the hour had passed.
    await controller.stop();
    controller = await startOperator();
    await waitFor('a second scheduled run', async () => (await series('truetask_adsync_runs_total')) === 1, { timeoutMs: 60_000 });
    const again = await waitStatus('nextSyncAt moved ahead again', (s) => Date.parse(s.nextSyncAt ?? '0') > Date.now() + 3500_000, 'scheduled');
    expect(again.status!.lastHandledSyncNow).toBeUndefined();
    expect(await series('truetask_adsync_interval_seconds')).toBe(3600);
  });
});

describe('the CLI with a kube context', () => {
  it('reads the Secrets that are not in the file from the current kube context', async () => {
    const ad = inject('ad');
    const admin = kubeConfigFor(inject('kubeconfigPath'));
    const ns = await createTestNamespace(admin, 'adsync-cli');
    const sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
    try {
      const core = admin.makeApiClient(CoreV1Api);
      for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ns.name })) await core.createNamespacedSecret({ namespace: ns.name, body: s as never });
      const file = await tempFile(scenarioYaml({ ad, truetaskUrl: sim.url, namespace: ns.name }, false));
      const r = await adsync(['preview', '-f', file, '-o', 'json'], { KUBECONFIG: inject('kubeconfigPath') });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).summary.directoryUsers).toBeGreaterThan(250);
      const missing = await tempFile(scenarioYaml({ ad, truetaskUrl: sim.url, namespace: `${ns.name}-other` }, false));
      const m = await adsync(['preview', '-f', missing], { KUBECONFIG: inject('kubeconfigPath') });
      expect(m.code).toBe(2);
      expect(m.stderr).toMatch(/SecretNotFound: .*ad-bind.*not found in .*kube context/);
    } finally {
      await sim.close();
      await ns.delete();
    }
  });
});
