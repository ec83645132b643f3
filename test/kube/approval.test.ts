// The create safeguard and plan approval end to end, on a real kube-apiserver,
// the Samba AD DC and the Truetask simulator, with the product's default limits:
// a first sync and a filter change that would create more than spec.safeguard
// allows write nothing and show ApprovalRequired; the reviewed plan (read with
// `adsync preview NAMESPACE/NAME` from the cluster, as the operator's service
// account) is approved by its digest and exactly its users are created; a stale
// or wrong digest does nothing; AD changing during approval stays within the
// rule; a leader change between the hold and the approval loses nothing.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { adsync, tempFile } from '../support/cli.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { addUser, deleteEntry, modifyEntry } from '../support/samba.ts';
import { adsyncObject, secretObjects } from '../support/scenario.ts';

const run = promisify(execFile);
const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

interface Pending {
  digest: string;
  toCreate: number;
  toPromote: number;
  allowedCreates?: number;
  inScope: number;
  limitedBy?: string;
  message: string;
  users: Array<{ email: string; action: string }>;
  truncated: boolean;
}
interface Status {
  observedGeneration?: number;
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  pendingApproval?: Pending;
  lastApproved?: { digest: string; exact: boolean; approvedChanges: number; newChanges: number; created: number; promoted: number };
  lastHandledApproval?: string;
  lastSync?: { result: string; created: number };
  preview?: { toCreate: number };
}

describe('create safeguard and plan approval', () => {
  const ad = inject('ad');
  const kubeconfig = inject('kubeconfigPath');
  const kubectlBin = `${inject('kubeBinDir')}/kubectl`;
  const tag = Math.random().toString(36).slice(2, 8);
  let admin: KubeConfig;
  let ns: TestNamespace;
  let sim: TruetaskSimulator;
  let controller: RunningController | undefined;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let operatorUser: string;
  /** A kubeconfig that acts as the operator's service account (its RBAC only). */
  let asOperator: string;
  const mine: string[] = [];

  const get = async () => (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name: 'corp' })) as { metadata: { generation: number }; status?: Status };
  const condition = (s: Status | undefined, type: string) => s?.conditions?.find((c) => c.type === type);
  const patch = (body: unknown) => custom.patchNamespacedCustomObject({ ...G, namespace: ns.name, name: 'corp', body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const waitStatus = (what: string, pred: (s: Status) => boolean) =>
    waitFor(what, async () => {
      const o = await get();
      return o.status && pred(o.status) ? o.status : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200 });
  const events = async () => (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=corp' })).items.map((e) => ({ reason: e.reason, type: e.type, message: e.message ?? '' }));
  const waitEvent = (reason: string, match: RegExp = /./) => waitFor(`event ${reason} ${match}`, async () => (await events()).find((e) => e.reason === reason && match.test(e.message)));
  const created = () => sim.audit().filter((a) => a.change.op === 'create').map((a) => a.email.toLowerCase()).sort();
  const kubectl = async (...args: string[]) => (await run(kubectlBin, args, { env: { ...process.env, KUBECONFIG: kubeconfig } })).stdout;
  /** Every create the plan has, read from the cluster as the operator's service account would in a Job. */
  const reviewedCreates = async (): Promise<string[]> => {
    const r = await adsync(['preview', `${ns.name}/corp`, '-o', 'json'], { KUBECONFIG: asOperator });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { users: Array<{ email: string; action: string }> };
    return out.users.filter((u) => u.action === 'create').map((u) => u.email.toLowerCase()).sort();
  };
  const hire = async (n: number, prefix: string): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const sam = `${prefix}${i}-${tag}`;
      const dn = await addUser(ad, { cn: `Approval ${sam}`, parentDN: `OU=Bulk,OU=Staff,${ad.baseDN}`, sAMAccountName: sam.slice(0, 20), userPrincipalName: `${sam}@corp.example.com`, displayName: `Approval ${sam}` });
      mine.push(dn);
      out.push(`${sam}@corp.example.com`);
    }
    return out;
  };
  const start = async (identity: string) => {
    controller = await startController(operatorOptions(kubeconfig, operatorUser, ns.name, { logger: quiet, identity, leaderElect: true, leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 }));
  };

  beforeAll(async () => {
    admin = kubeConfigFor(kubeconfig);
    await installCrd(admin, kubectlBin, kubeconfig);
    ns = await createTestNamespace(admin, 'adsync-approval');
    operatorUser = await installOperatorRbac(admin, ns.name);
    custom = admin.makeApiClient(CustomObjectsApi);
    core = admin.makeApiClient(CoreV1Api);
    const kc = parse(await readFile(kubeconfig, 'utf8')) as { users: Array<{ user: Record<string, unknown> }> };
    for (const u of kc.users) u.user.as = operatorUser;
    asOperator = await tempFile(stringify(kc), 'as-operator.kubeconfig');
    sim = await startTruetaskSimulator({ tokens: [{ name: 'adsync-tests', token: 'tt-test-token-0123456789abcdef', scope: 'read_write' }] });
    for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ns.name })) await core.createNamespacedSecret({ namespace: ns.name, body: s as never });
    await start('first');
  });

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    await ns?.delete();
    for (const dn of mine) await deleteEntry(ad, dn).catch(() => undefined);
  });

  let firstDigest = '';
  it('a first sync above the default safeguard writes nothing and waits; approving its digest creates exactly the reviewed users', async () => {
    const body = adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, mode: 'Sync', spec: { excludedOUs: [`OU=Service Accounts,${ad.baseDN}`, `OU=Bulk,OU=Staff,${ad.baseDN}`], safeguard: {} } });
    await custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body });
    const held = await waitStatus('ApprovalRequired', (s) => condition(s, 'Ready')?.reason === 'ApprovalRequired');
    const p = held.pendingApproval!;
    expect(p).toMatchObject({ allowedCreates: 10, inScope: 0, limitedBy: 'maxGrowthPercent' }); // the defaults: never below 10 creates
    expect(p.toCreate).toBeGreaterThan(10);
    expect(condition(held, 'Synced')).toMatchObject({ status: 'False', reason: 'ApprovalRequired' });
    expect(condition(held, 'Stalled')).toMatchObject({ status: 'True', reason: 'ApprovalRequired' });
    expect(p.message).toContain(`truetask.io/approve=${p.digest}`);
    expect(sim.audit()).toEqual([]);
    await waitEvent('ApprovalRequired');
    expect((await events()).map((e) => e.reason)).not.toContain('SyncSucceeded');
    const table = await kubectl('get', 'adsyncs', '-n', ns.name);
    expect(table).toMatch(/APPROVAL/);
    expect(table).toMatch(new RegExp(`corp\\s+Sync\\s+False\\s+.*${p.digest}`));
    const metrics = await (await fetch(`${controller!.url}/metrics`)).text();
    expect(metrics).toContain(`truetask_adsync_pending_approval{namespace="${ns.name}",name="corp",action="create"} ${p.toCreate}`);

    // review: the whole plan, from the cluster, with the operator's service account; its digest is the pending one
    const reviewed = await reviewedCreates();
    expect(reviewed).toHaveLength(p.toCreate);
    const tableOut = await adsync(['preview', `${ns.name}/corp`], { KUBECONFIG: asOperator });
    expect(tableOut.stdout).toContain(`Digest:    ${p.digest}`);

    // approve without --yes and no terminal: refused, nothing written
    const refused = await adsync(['approve', `${ns.name}/corp`], { KUBECONFIG: kubeconfig });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes/);
    const approved = await adsync(['approve', `${ns.name}/corp`, '--yes'], { KUBECONFIG: kubeconfig });
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`plan ${p.digest}`);
    expect(approved.stdout).toContain(`${p.toCreate} to create, ${p.toPromote} to promote`);
    const done = await waitStatus('approved plan applied', (s) => s.lastApproved?.digest === p.digest);
    expect(done.lastApproved).toMatchObject({ exact: true, approvedChanges: p.toCreate + p.toPromote, newChanges: 0, created: p.toCreate });
    expect(condition(done, 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(condition(done, 'Stalled')).toBeUndefined();
    expect(done.pendingApproval).toBeUndefined();
    expect(created()).toEqual(reviewed);
    await waitEvent('Approved', new RegExp(p.digest));
    firstDigest = p.digest;
  });

  it('the README\'s in-cluster preview command is admitted in a restricted namespace, as the operator\'s service account', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Review the whole plan from inside the cluster'));
    const command = /^kubectl run adsync-preview .*$/m.exec(section)?.[0];
    expect(command).toContain('-- preview truetask/corp');
    // as deploy/base labels the operator's namespace; no kubelet here, so a server-side dry run (attach flags dropped)
    await kubectl('label', 'namespace', ns.name, 'pod-security.kubernetes.io/enforce=restricted', '--overwrite');
    const dryRun = command!.replace(' --rm -i', '').replace('-n truetask-adsync', `-n ${ns.name}`).replace(' -- preview', ' --dry-run=server -o json -- preview');
    const { stdout } = await run('bash', ['-c', dryRun], { env: { ...process.env, KUBECONFIG: kubeconfig, PATH: `${inject('kubeBinDir')}:${process.env.PATH ?? ''}` } });
    const pod = JSON.parse(stdout) as { spec: { serviceAccountName: string; containers: Array<{ args: string[] }> } };
    expect(pod.spec.serviceAccountName).toBe('truetask-adsync');
    expect(pod.spec.containers[0]?.args).toEqual(['preview', 'truetask/corp']);
  });

  let filterDigest = '';
  let filterReviewed: string[] = [];
  let disabledEmail = '';
  let filterChanges = 0;
  it('a filter change that would create more than the safeguard allows writes nothing; a stale or wrong digest does nothing', async () => {
    const early = await hire(2, 'early');
    disabledEmail = early[0]!.toLowerCase();
    const writes = sim.audit().length;
    await patch({ spec: { excludedOUs: [`OU=Service Accounts,${ad.baseDN}`] } }); // Bulk is no longer excluded: its 250 users and these 2
    const gen = (await get()).metadata.generation;
    const held = await waitStatus('filter change held', (s) => s.observedGeneration === gen && condition(s, 'Ready')?.reason === 'ApprovalRequired');
    const p = held.pendingApproval!;
    expect(p.toCreate).toBeGreaterThanOrEqual(252);
    expect(p.digest).not.toBe(firstDigest);
    expect(sim.audit()).toHaveLength(writes);
    filterReviewed = await reviewedCreates();
    expect(filterReviewed).toHaveLength(p.toCreate);
    expect(filterReviewed).toEqual(expect.arrayContaining(early.map((e) => e.toLowerCase())));
    filterDigest = p.digest;
    filterChanges = p.toCreate + p.toPromote;

    for (const [value, why] of [['0123456789abcdef', /is not the digest of the plan waiting for approval/], [firstDigest, /already applied/]] as const) {
      await patch({ metadata: { annotations: { 'truetask.io/approve': value } } });
      const after = await waitStatus(`approval ${value} handled`, (s) => s.lastHandledApproval === value);
      expect(after.pendingApproval?.digest).toBe(filterDigest);
      expect(condition(after, 'Ready')?.reason).toBe('ApprovalRequired');
      await waitEvent('ApprovalMismatch', why);
    }
    expect(sim.audit()).toHaveLength(writes);
  });

  it('AD changes during approval and the leader changes: the reviewed users still valid are created, the new ones beyond the safeguard wait for a new approval', async () => {
    await controller!.stop();
    controller = undefined;
    const before = new Set(created());
    // meanwhile in AD: a reviewed user is disabled (no longer valid), 12 new hires appear (more than the 10 allowed)
    await modifyEntry(ad, mine[0]!, { userAccountControl: '514' });
    const newHires = (await hire(12, 'late')).map((e) => e.toLowerCase());
    await patch({ metadata: { annotations: { 'truetask.io/approve': filterDigest } } }); // approved while no replica leads
    await start('second');
    const applied = await waitStatus('approved filter change applied', (s) => s.lastApproved?.digest === filterDigest);
    expect(applied.lastApproved).toMatchObject({ exact: false, approvedChanges: filterChanges - 1, newChanges: 0, created: filterReviewed.length - 1 });
    const now = created().filter((e) => !before.has(e));
    expect(now).toEqual(filterReviewed.filter((e) => e !== disabledEmail));
    // the 12 new hires wait under a new digest
    const p = applied.pendingApproval!;
    expect(p.toCreate).toBe(12);
    expect(p.users.map((u) => u.email.toLowerCase()).sort()).toEqual([...newHires].sort());
    expect(condition(applied, 'Ready')).toMatchObject({ status: 'False', reason: 'ApprovalRequired' });

    // two more hires, then the new plan is approved: its 12, plus the 2 new ones (within the safeguard now)
    const more = (await hire(2, 'last')).map((e) => e.toLowerCase());
    const r = await adsync(['approve', `${ns.name}/corp`, '--yes'], { KUBECONFIG: kubeconfig });
    expect(r.code, r.stderr).toBe(0);
    const final = await waitStatus('second approval applied', (s) => s.lastApproved?.digest === p.digest);
    expect(final.lastApproved).toMatchObject({ exact: false, approvedChanges: 12, newChanges: 2, created: 14 });
    expect(final.pendingApproval).toBeUndefined();
    expect(condition(final, 'Ready')?.status).toBe('True');
    expect(created().filter((e) => !before.has(e) && !filterReviewed.includes(e)).sort()).toEqual([...newHires, ...more].sort());
    expect(new Set(created()).size).toBe(created().length); // nobody twice
  });
});
