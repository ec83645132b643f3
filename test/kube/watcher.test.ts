// The AdSync watcher on a real API server: lists, follows changes, restarts a
// watch that went silent without relisting or losing events, and recovers from
// an API server it cannot reach.
import { Writable } from 'node:stream';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { AdSyncWatcher } from '../../src/controller/watcher.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd } from '../support/operator-env.ts';

const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const adsync = (name: string) => ({
  apiVersion: 'truetask.io/v1alpha1',
  kind: 'AdSync',
  metadata: { name },
  spec: {
    ldap: { url: 'ldaps://127.0.0.1:636', baseDN: 'DC=corp', bindDN: 'svc@corp', bindPasswordSecretRef: { name: 'x' } },
    truetask: { url: 'http://127.0.0.1:1', tokenSecretRef: { name: 'y' } },
  },
});

describe('AdSync watcher', () => {
  let ns: TestNamespace | undefined;
  const watchers: AdSyncWatcher[] = [];
  afterAll(async () => {
    for (const w of watchers) await w.stop();
    await ns?.delete();
  });

  it('lists, follows changes, and restarts a silent watch without missing an event', async () => {
    const admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'watcher');
    const namespace = ns.name;
    const custom = admin.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ ...G, namespace, body: adsync('before') });

    const seen: string[] = [];
    const { logger, lines } = capture();
    const w = new AdSyncWatcher({
      kubeConfig: admin,
      namespaces: [namespace],
      logger,
      idleTimeoutMs: 700,
      onUpsert: (key) => seen.push(`upsert ${key}`),
      onDelete: (key) => seen.push(`delete ${key}`),
    });
    watchers.push(w);
    w.start();
    await waitFor('initial list', () => w.hasSynced && seen.includes(`upsert ${namespace}/before`));

    await custom.createNamespacedCustomObject({ ...G, namespace, body: adsync('after') });
    await waitFor('the new object', () => w.get(`${namespace}/after`) !== undefined);

    // Nothing changes for a while: the watch is restarted (not relisted) ...
    await waitFor('a silent watch restarted', () => lines.some((l) => l.includes('watch silent for too long')), { timeoutMs: 10_000 });
    // ... and the next change still arrives.
    await custom.deleteNamespacedCustomObject({ ...G, namespace, name: 'before' });
    await waitFor('the delete', () => seen.includes(`delete ${namespace}/before`));
    expect(w.keys()).toEqual([`${namespace}/after`]);
    expect(lines.filter((l) => l.includes('list/watch of AdSyncs failed'))).toEqual([]);
  });

  it('backs off and keeps retrying while the API server cannot be reached', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const { logger, lines } = capture();
    const w = new AdSyncWatcher({ kubeConfig: kc, logger, maxBackoffMs: 400, onUpsert: () => undefined, onDelete: () => undefined });
    watchers.push(w);
    w.start();
    await waitFor('three failed attempts', () => lines.filter((l) => l.includes('list/watch of AdSyncs failed')).length >= 3, { timeoutMs: 10_000 });
    const delays = lines.filter((l) => l.includes('list/watch of AdSyncs failed')).map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
    expect(delays.every((d) => d >= 125 && d <= 400)).toBe(true);
    expect(w.hasSynced).toBe(false);
    await w.stop();
  });
});
