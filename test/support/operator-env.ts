// Sets up what the operator needs on the test API server: the CRD from crds/,
// and the RBAC it ships (deploy/base/rbac.yaml) bound to a ServiceAccount in a
// test namespace, so the controller can run impersonating it.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  ApiextensionsV1Api,
  RbacAuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1ClusterRole,
  type V1Role,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { ControllerOptions } from '../../src/controller/run.ts';
import { kubeConfigFor } from './kube-apiserver.ts';
import { waitFor } from './kube-wait.ts';

const root = new URL('../../', import.meta.url);
const run = promisify(execFile);

async function yamlDocs(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(new URL(path, root), 'utf8');
  return parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean);
}

function conflictOk(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err;
}

/**
 * Installs (or updates) the AdSync CRD the way a user does, with kubectl
 * (client-node's typed serializer would drop x-kubernetes-* keys), and waits
 * until it is served.
 */
export async function installCrd(kc: KubeConfig, kubectl: string, kubeconfigPath: string): Promise<void> {
  const env = { ...process.env, KUBECONFIG: kubeconfigPath };
  await run(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', fileURLToPath(new URL('crds/truetask.io_adsyncs.yaml', root))], { env });
  const api = kc.makeApiClient(ApiextensionsV1Api);
  await waitFor('CRD adsyncs.truetask.io established', async () => {
    const c = await api.readCustomResourceDefinition({ name: 'adsyncs.truetask.io' });
    return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
  });
}

export const SERVICE_ACCOUNT = 'truetask-adsync';

/**
 * The shipped RBAC, with the ServiceAccount, Role and bindings placed in `namespace`
 * (the ClusterRole is shared). Returns the user name to impersonate.
 */
export async function installOperatorRbac(kc: KubeConfig, namespace: string): Promise<string> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const docs = await yamlDocs('deploy/base/rbac.yaml');
  for (const doc of docs) {
    const kind = doc.kind as string;
    const meta = doc.metadata as { name: string; namespace?: string };
    if (kind === 'ServiceAccount') {
      await core.createNamespacedServiceAccount({ namespace, body: { ...doc, metadata: { ...meta, namespace } } }).catch(conflictOk);
    } else if (kind === 'ClusterRole') {
      const body = doc as unknown as V1ClusterRole;
      await rbac.createClusterRole({ body }).catch(async (err: unknown) => {
        conflictOk(err);
        await rbac.replaceClusterRole({ name: meta.name, body });
      });
    } else if (kind === 'ClusterRoleBinding') {
      await rbac
        .createClusterRoleBinding({
          body: {
            ...doc,
            metadata: { ...meta, name: `${meta.name}-${namespace}` },
            subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace }],
          } as never,
        })
        .catch(conflictOk);
    } else if (kind === 'Role') {
      await rbac.createNamespacedRole({ namespace, body: { ...(doc as unknown as V1Role), metadata: { ...meta, namespace } } }).catch(conflictOk);
    } else if (kind === 'RoleBinding') {
      await rbac
        .createNamespacedRoleBinding({
          namespace,
          body: { ...doc, metadata: { ...meta, namespace }, subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace }] } as never,
        })
        .catch(conflictOk);
    } else {
      throw new Error(`deploy/base/rbac.yaml: unexpected kind ${kind}`);
    }
  }
  return `system:serviceaccount:${namespace}:${SERVICE_ACCOUNT}`;
}

/**
 * A test controller watching one namespace as the operator's ServiceAccount
 * (impersonated), metrics on a free port, quiet; each test adds what it checks.
 */
export function operatorOptions(kubeconfigPath: string, operatorUser: string, namespace: string, over: Partial<ControllerOptions> & Pick<ControllerOptions, 'logger'>): ControllerOptions {
  return {
    kubeConfig: kubeConfigFor(kubeconfigPath, { impersonate: operatorUser }),
    namespaces: [namespace],
    metricsHost: '127.0.0.1',
    metricsPort: 0,
    leaderElect: false,
    leaseNamespace: namespace,
    leaseName: 'truetask-adsync-leader',
    concurrency: 1,
    writeConcurrency: 4,
    processMetrics: false,
    ...over,
  };
}
