// The runtime's informer on a real API server (watching AdSyncs): lists, follows
// changes with the old object on updates, restarts a watch that went silent
// without relisting or losing events, and backs off from an API server it cannot
// reach (its waits are the runtime's sleep, which leaves no abort listener behind:
// test/unit/runtime/helpers.test.ts).
import { Writable } from 'node:stream';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Informer } from '../../src/runtime/informer.ts';
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
    truetask: { url: 'http://127.0.0.1:1', insecurePlaintext: true, tokenSecretRef: { name: 'y' } },
  },
});

describe('the runtime informer', () => {
  let ns: TestNamespace | undefined;
  const watchers: Informer[] = [];
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
    const w = new Informer({
      kubeConfig: admin,
      resource: G,
      namespaces: [namespace],
      logger,
      idleTimeoutMs: 700,
      onAdd: (key) => seen.push(`add ${key}`),
      onUpdate: (key, oldObj, newObj) => seen.push(`update ${key} ${String(oldObj.metadata?.generation)}->${String(newObj.metadata?.generation)}`),
      onDelete: (key, oldObj) => seen.push(`delete ${key} ${String(oldObj.metadata?.name)}`),
    });
    watchers.push(w);
    w.start();
    await waitFor('initial list', () => w.hasSynced && seen.includes(`add ${namespace}/before`));

    await custom.createNamespacedCustomObject({ ...G, namespace, body: adsync('after') });
    await waitFor('the new object', () => w.get(`${namespace}/after`) !== undefined);
    // An update carries the old object: the generation moved from 1 to 2.
    await custom.patchNamespacedCustomObject({ ...G, namespace, name: 'after', body: { spec: { mode: 'Sync' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await waitFor('the update with the old object', () => seen.includes(`update ${namespace}/after 1->2`));

    // Nothing changes for a while: the watch is restarted (not relisted) ...
    await waitFor('a silent watch restarted', () => lines.some((l) => l.includes('watch silent for too long')), { timeoutMs: 10_000 });
    // ... and the next change still arrives.
    await custom.deleteNamespacedCustomObject({ ...G, namespace, name: 'before' });
    await waitFor('the delete', () => seen.includes(`delete ${namespace}/before before`));
    expect(w.keys()).toEqual([`${namespace}/after`]);
    expect(lines.filter((l) => l.includes('failed; retrying'))).toEqual([]);
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
    const w = new Informer({ kubeConfig: kc, resource: G, logger, maxBackoffMs: 400, onAdd: () => undefined, onUpdate: () => undefined, onDelete: () => undefined });
    watchers.push(w);
    w.start();
    await waitFor('three failed attempts', () => lines.filter((l) => l.includes('list failed; retrying')).length >= 3, { timeoutMs: 10_000 });
    const delays = lines.filter((l) => l.includes('list failed; retrying')).map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
    // the project's back-off: 500 ms doubling, capped here at 400 ms, over the upper half of each step
    expect(delays.every((d) => d >= 200 && d <= 400)).toBe(true);
    expect(w.hasSynced).toBe(false);
    await w.stop();
  });
});
