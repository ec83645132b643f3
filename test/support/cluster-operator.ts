// Helpers for the `cluster` layer: kubectl/helm against the cluster, a tenant
// namespace with an AdSync pointed at the DC and a simulator (each at an address
// of its own inside the cluster's network namespace), the operator's pods.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import type { Faults } from '../../src/truetask-sim/types.ts';
import { repoRoot } from '../tools/bin.ts';
import { relayIntoCluster, type ClusterRelay } from './cluster.ts';
import { waitFor } from './kube-wait.ts';
import { runCommand, type RunResult } from './run-command.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } from './scenario.ts';

export const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
export const CHART = join(repoRoot, 'charts', 'truetask-adsync');
export const IMAGE_REPO = 'ghcr.io/truetask/truetask-adsync';
export const APP_VERSION = /^appVersion:\s*"?([^"\n]+)"?$/m.exec(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'))?.[1] ?? '';

export function admin(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('cluster').kubeconfigPath);
  return kc;
}

function env(): NodeJS.ProcessEnv {
  return { ...process.env, KUBECONFIG: inject('cluster').kubeconfigPath };
}

/** kubectl; fails the test with its stderr on a non-zero exit unless `allowFail`. */
export async function kubectl(args: readonly string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await runCommand(join(inject('cluster').kubeBinDir, 'kubectl'), args, { env: env(), timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  if (r.code !== 0 && !opts.allowFail) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
  return r;
}

export async function helm(args: readonly string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await runCommand(join(inject('cluster').toolsBinDir, 'helm'), args, { env: env(), timeoutMs: opts.timeoutMs ?? 300_000 });
  if (r.code !== 0 && !opts.allowFail) throw new Error(`helm ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
  return r;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** A namespace labelled to enforce the `restricted` Pod Security Standard. */
export async function restrictedNamespace(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await admin()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'truetask-adsync.test/namespace': 'true' } } } });
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await admin()
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code !== 404) throw err;
    });
}

/** The operator's pods (by the chart's / deploy's labels), oldest first. */
export async function operatorPods(namespace: string): Promise<V1Pod[]> {
  const list = await admin().makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/name=truetask-adsync' });
  return list.items.sort((a, b) => String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)));
}

export function isReady(p: V1Pod): boolean {
  return !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Waits for exactly `n` Ready operator pods (and no terminating ones) and returns them. */
export async function readyPods(namespace: string, n: number, timeoutMs = 180_000): Promise<V1Pod[]> {
  return waitFor(
    `${n} Ready operator pods in ${namespace}`,
    async () => {
      const pods = await operatorPods(namespace);
      return pods.length === n && pods.every(isReady) ? pods : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

export async function leaseHolder(namespace: string, lease: string): Promise<string> {
  const l = await admin()
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ name: lease, namespace })
    .catch(() => undefined);
  return l?.spec?.holderIdentity ?? '';
}

/** The pod name in a holder identity (`<pod>_<pid>` or `<pod>`). */
export function holderPod(holder: string): string {
  return holder.replace(/_[^_]*$/, '');
}

export interface Tenant {
  namespace: string;
  sim: TruetaskSimulator;
  relay: ClusterRelay;
  /** http://10.250.1.N:80: the simulator as pods reach it (its address in the namespace) */
  truetaskUrl: string;
  close(): Promise<void>;
}

/** A tenant namespace with the AdSync's Secrets and a fresh simulator reachable from pods. */
export async function tenant(prefix: string, faults: Faults = {}, fixedNamespace?: string): Promise<Tenant> {
  const sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }], faults });
  const u = new URL(sim.url);
  const relay = await relayIntoCluster({ host: u.hostname, port: Number(u.port) }, { port: 80 });
  const namespace = fixedNamespace ?? uniqueName(prefix);
  const core = admin().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'truetask-adsync.test/namespace': 'true' } } } });
  const truetaskUrl = `http://${relay.host}:${relay.port}`;
  for (const s of secretObjects({ ad: inject('ad'), truetaskUrl, namespace })) await core.createNamespacedSecret({ namespace, body: s as never });
  return {
    namespace,
    sim,
    relay,
    truetaskUrl,
    async close() {
      await deleteNamespace(namespace);
      await relay.close();
      await sim.close();
    },
  };
}

/** Creates the AdSync `corp` (Sync mode unless told) in the tenant, pointed at the DC's relay. */
export async function createAdSync(t: Tenant, over: { mode?: 'Preview' | 'Sync'; spec?: Record<string, unknown> } = {}): Promise<void> {
  const body = adsyncObject({ ad: inject('ad'), truetaskUrl: t.truetaskUrl, namespace: t.namespace, mode: over.mode ?? 'Sync', ldap: { url: inject('adInClusterUrl') }, ...(over.spec ? { spec: over.spec } : {}) });
  await admin().makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...G, namespace: t.namespace, body });
}

export interface AdSyncStatus {
  conditions?: Array<{ type: string; status: string; reason?: string }>;
  lastSync?: { result: string; created?: number };
  directory?: { users?: number };
}

export async function adsyncStatus(namespace: string, name = 'corp'): Promise<AdSyncStatus> {
  const o = (await admin().makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ ...G, namespace, name })) as { status?: AdSyncStatus };
  return o.status ?? {};
}

/** Waits until the AdSync's Synced condition is True (a Sync-mode run succeeded). */
export async function waitSynced(namespace: string, timeoutMs = 240_000): Promise<AdSyncStatus> {
  return waitFor(
    `AdSync ${namespace}/corp Synced`,
    async () => {
      const s = await adsyncStatus(namespace);
      return s.conditions?.some((c) => c.type === 'Synced' && c.status === 'True') && s.lastSync?.result === 'Succeeded' ? s : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** Emails with more than one create attempt at the simulator (201, 409 or a fault alike). */
export function duplicateCreates(sim: TruetaskSimulator): string[] {
  const seen = new Map<string, number>();
  for (const a of sim.createAttempts()) {
    const e = (a.email ?? '').toLowerCase();
    seen.set(e, (seen.get(e) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([e]) => e);
}
