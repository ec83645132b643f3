// The plain manifests as users apply them: `kubectl apply -k deploy/base` (the operator
// cluster-wide) and `kubectl apply -k deploy/overlays/namespaced` (watching only the
// `truetask` namespace), on the real single-node cluster: 2/2 pods Ready in the
// restricted namespace deploy/base makes, one leader, an AdSync Synced.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../tools/bin.ts';
import { createAdSync, duplicateCreates, holderPod, kubectl, leaseHolder, readyPods, tenant, waitSynced, type Tenant } from '../support/cluster-operator.ts';
import { waitFor } from '../support/kube-wait.ts';

const NS = 'truetask-adsync';

describe('kubectl apply -k', () => {
  let applied: string | undefined;
  let t: Tenant | undefined;

  afterEach(async () => {
    await t?.close();
    t = undefined;
    if (applied) await kubectl(['delete', '-k', applied, '--ignore-not-found', '--wait=true'], { allowFail: true, timeoutMs: 180_000 });
    applied = undefined;
  });

  for (const [dir, tenantNamespace] of [
    ['deploy/base', undefined],
    ['deploy/overlays/namespaced', 'truetask'],
  ] as const) {
    it(`${dir}: 2/2 pods Ready in a restricted namespace, one leader, an AdSync Synced`, async () => {
      await kubectl(['delete', 'crd', 'adsyncs.truetask.io', '--ignore-not-found', '--wait=true']);
      // The AdSync's namespace first: the namespaced overlay grants its Role there (it must exist).
      t = await tenant('adsync-kustomize', {}, tenantNamespace);
      applied = join(repoRoot, dir);
      await kubectl(['apply', '-k', applied]);
      const ns = JSON.parse((await kubectl(['get', 'namespace', NS, '-o', 'json'])).stdout) as { metadata: { labels: Record<string, string> } };
      expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
      await kubectl(['wait', '--for=condition=Established', 'crd/adsyncs.truetask.io', '--timeout=60s']);
      const pods = await readyPods(NS, 2);
      const holder = await waitFor('a Lease holder', async () => (await leaseHolder(NS, 'truetask-adsync-leader')) || undefined, { timeoutMs: 60_000 });
      expect(pods.map((p) => p.metadata?.name)).toContain(holderPod(holder));
      await createAdSync(t);
      const status = await waitSynced(t.namespace);
      expect(status.lastSync?.created).toBe(t.sim.createAttempts().length);
      expect(duplicateCreates(t.sim)).toEqual([]);
    });
  }
});
