// Per-test namespaces on the shared test API server.
//
// There is no kube-controller-manager, so a deleted namespace stays
// `Terminating` (nobody runs the namespace finalizer) and its objects remain in
// etcd until the server is torn down at the end of the run. That is fine for
// isolation: names are unique and a terminating namespace accepts no new objects.
// No `default` ServiceAccount is created in new namespaces either.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, inject } from 'vitest';
import { kubeConfigFor } from './kube-apiserver.ts';

export interface TestNamespace {
  readonly name: string;
  delete(): Promise<void>;
}

/** Creates a namespace `<prefix>-<random>` (labelled for tests) and returns it with a delete(). */
export async function createTestNamespace(kc: KubeConfig, prefix = 'test'): Promise<TestNamespace> {
  const core = kc.makeApiClient(CoreV1Api);
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'test';
  const name = `${base}-${randomBytes(4).toString('hex')}`;
  await core.createNamespace({
    body: { metadata: { name, labels: { 'truetask-adsync.test/namespace': 'true' } } },
  });
  let deleted = false;
  return {
    name,
    async delete() {
      if (deleted) return;
      deleted = true;
      try {
        await core.deleteNamespace({ name });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
      }
    },
  };
}

/**
 * In a test file (or describe): a fresh namespace created in beforeAll and
 * deleted in afterAll. Read `.name` inside tests/hooks.
 */
export function useTestNamespace(prefix = 'test'): { readonly name: string; readonly kc: KubeConfig } {
  let ns: TestNamespace | undefined;
  let kc: KubeConfig | undefined;
  beforeAll(async () => {
    kc = kubeConfigFor(inject('kubeconfigPath'));
    ns = await createTestNamespace(kc, prefix);
  });
  afterAll(async () => {
    await ns?.delete();
  });
  return {
    get name() {
      if (!ns) throw new Error('useTestNamespace: namespace not created yet (use it inside tests or hooks)');
      return ns.name;
    },
    get kc() {
      if (!kc) throw new Error('useTestNamespace: not set up yet (use it inside tests or hooks)');
      return kc;
    },
  };
}
