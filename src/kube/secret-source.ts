/**
 * Reads Secrets from the cluster with `get` (never list/watch, so RBAC stays
 * minimal), fresh at every call: a rotated password is used at the next run.
 * `onRead` learns each Secret's resourceVersion (null: not found), never its data.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { AdSyncError, configError } from '../errors.ts';
import { decodeSecret, secretSchema, type SecretSource } from '../config/secrets.ts';
import { apiStatusCode } from '../runtime/api-status.ts';
import type { SecretAccessCheck } from './secret-access.ts';

export type SecretReadObserver = (namespace: string, name: string, resourceVersion: string | null) => void;

/** `check` (./secret-access.ts) sees each Secret's metadata before its data is used, and may refuse it. */
export function kubeSecretSource(core: CoreV1Api, label = 'the cluster', onRead?: SecretReadObserver, check?: SecretAccessCheck): SecretSource {
  return {
    async get(namespace, name) {
      try {
        const secret = await core.readNamespacedSecret({ name, namespace });
        onRead?.(namespace, name, secret.metadata?.resourceVersion ?? '');
        check?.({ namespace, name, annotations: secret.metadata?.annotations });
        const parsed = secretSchema.safeParse({ ...secret, kind: 'Secret' });
        if (!parsed.success) throw configError('InvalidSecret', `Secret ${namespace}/${name} could not be read: unexpected shape`);
        return decodeSecret(parsed.data);
      } catch (err) {
        if (err instanceof AdSyncError) throw err;
        const code = apiStatusCode(err);
        if (code === 404) {
          onRead?.(namespace, name, null);
          return undefined;
        }
        if (code === 401 || code === 403) {
          throw configError('SecretNotFound', `Not allowed to get Secret ${namespace}/${name} in ${label} (HTTP ${code}): check RBAC`);
        }
        // A server error, a timeout, a dropped connection: the Secret may well exist, so not SecretNotFound.
        throw new AdSyncError('config', 'SecretUnavailable', 'retry', `Could not read Secret ${namespace}/${name} from ${label}: ${code ? `HTTP ${code}` : err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    },
    describe: () => label,
  };
}
