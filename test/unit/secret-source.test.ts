// Reading a Secret from the cluster: missing is "not found" (a person must act); a
// Secret the API server could not return for a transient reason is not.
import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { kubeSecretSource } from '../../src/kube/secret-source.ts';
import { resolveEngineConfig } from '../../src/config/engine-config.ts';

function core(fail: () => never): CoreV1Api {
  return { readNamespacedSecret: () => Promise.resolve().then(fail) } as unknown as CoreV1Api;
}

describe('the cluster Secret source', () => {
  it('a missing Secret is not found; the config says SecretNotFound, to be fixed', async () => {
    const seen: Array<string | null> = [];
    const source = kubeSecretSource(core(() => { throw new ApiException(404, 'not found', '{}', {}); }), 'the cluster', (_ns, _n, rv) => seen.push(rv));
    expect(await source.get('ns', 'ad-bind')).toBeUndefined();
    expect(seen).toEqual([null]);
  });

  for (const [what, fail] of [
    ['HTTP 503', () => { throw new ApiException(503, 'unavailable', '{}', {}); }],
    ['HTTP 500', () => { throw new ApiException(500, 'internal', '{}', {}); }],
    ['a timeout', () => { throw new DOMException('The operation was aborted due to timeout', 'TimeoutError'); }],
    ['a dropped connection', () => { throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }); }],
  ] as const) {
    it(`${what} is SecretUnavailable, retried, not SecretNotFound`, async () => {
      const source = kubeSecretSource(core(fail));
      const err = await source.get('ns', 'ad-bind').then(
        () => undefined,
        (e: unknown) => e as { reason: string; next: string; message: string },
      );
      expect(err?.reason).toBe('SecretUnavailable');
      expect(err?.next).toBe('retry');
      expect(err?.message).toContain('ns/ad-bind');
    });
  }

  it('an AdSync whose Secret is unavailable fails with SecretUnavailable (retry), not SecretNotFound', async () => {
    const source = kubeSecretSource(core(() => { throw new ApiException(503, 'unavailable', '{}', {}); }));
    const adsync = {
      apiVersion: 'truetask.io/v1alpha1',
      kind: 'AdSync',
      metadata: { name: 'corp', namespace: 'ns' },
      spec: {
        ldap: { url: 'ldaps://dc1:636', baseDN: 'DC=corp', bindDN: 'svc@corp', bindPasswordSecretRef: { name: 'ad-bind' } },
        truetask: { url: 'https://tt', tokenSecretRef: { name: 'tt' } },
      },
    };
    const { adSyncSchema } = await import('../../src/api/adsync.ts');
    await expect(resolveEngineConfig(adSyncSchema.parse(adsync), source)).rejects.toMatchObject({ reason: 'SecretUnavailable', next: 'retry' });
  });
});
