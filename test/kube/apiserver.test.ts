// Shows that the `kube` project runs against a REAL kube-apiserver + etcd:
// CRD structural schema (defaults, enum, CEL), status subresource, optimistic
// concurrency, watches, Leases, RBAC with impersonation.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoordinationV1Api,
  KubeConfig,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  V1MicroTime,
  Watch,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { useTestNamespace } from '../support/kube-namespace.ts';
import { AsyncQueue, expectKubeError, waitFor } from '../support/kube-wait.ts';

const group = 'test.example.com';
const version = 'v1';
const plural = 'widgets';
const CEL_MESSAGE = 'minReplicas must be less than or equal to maxReplicas';

const widgetCrd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { kind: 'Widget', listKind: 'WidgetList', plural, singular: 'widget' },
    versions: [
      {
        name: version,
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 0 },
                  color: { type: 'string', _enum: ['red', 'green', 'blue'], _default: 'red' },
                  minReplicas: { type: 'integer', _default: 1 },
                  maxReplicas: { type: 'integer', _default: 3 },
                },
                x_kubernetes_validations: [{ rule: 'self.minReplicas <= self.maxReplicas', message: CEL_MESSAGE }],
              },
              status: {
                type: 'object',
                properties: {
                  phase: { type: 'string' },
                  observedGeneration: { type: 'integer' },
                },
              },
            },
          },
        },
      },
    ],
  },
};

interface Widget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number; uid?: string };
  spec: { size: number; color?: string; minReplicas?: number; maxReplicas?: number };
  status?: { phase?: string; observedGeneration?: number };
}

const widget = (name: string, spec: Widget['spec']): Widget => ({
  apiVersion: `${group}/${version}`,
  kind: 'Widget',
  metadata: { name },
  spec,
});

const ns = useTestNamespace('apiserver');

let kc: ReturnType<typeof kubeConfigFor>;
let custom: CustomObjectsApi;
let core: CoreV1Api;

beforeAll(async () => {
  kc = kubeConfigFor(inject('kubeconfigPath'));
  custom = kc.makeApiClient(CustomObjectsApi);
  core = kc.makeApiClient(CoreV1Api);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  await ext.createCustomResourceDefinition({ body: widgetCrd });
  await waitFor('Widget CRD to be Established', async () => {
    const crd = await ext.readCustomResourceDefinition({ name: `${plural}.${group}` });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  });
});

afterAll(async () => {
  await kc?.makeApiClient(ApiextensionsV1Api).deleteCustomResourceDefinition({ name: `${plural}.${group}` });
});

const createWidget = async (w: Widget): Promise<Widget> =>
  (await custom.createNamespacedCustomObject({ group, version, namespace: ns.name, plural, body: w })) as Widget;
const getWidget = async (name: string): Promise<Widget> =>
  (await custom.getNamespacedCustomObject({ group, version, namespace: ns.name, plural, name })) as Widget;

describe('server', () => {
  it('is a real kube-apiserver of the pinned version, reachable with the built kubectl', async () => {
    const bin = join(inject('kubeBinDir'), 'kubectl');
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      // KUBECONFIG comes from the globalSetup (process.env) like for any child process.
      const child = spawn(bin, ['version', '-o', 'json'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout }));
    });
    expect(out.code).toBe(0);
    const v = JSON.parse(out.stdout) as { serverVersion: { gitVersion: string; major: string; minor: string } };
    expect(v.serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(v.serverVersion.major).toBe('1');
    expect(process.env.KUBECONFIG).toBe(inject('kubeconfigPath'));
  });
});

describe('CRD with a structural schema', () => {
  it('accepts a valid object and fills in the defaults', async () => {
    const created = await createWidget(widget('valid', { size: 2 }));
    expect(created.spec).toEqual({ size: 2, color: 'red', minReplicas: 1, maxReplicas: 3 });
    expect(created.metadata.generation).toBe(1);
    const read = await getWidget('valid');
    expect(read.spec.color).toBe('red');
    expect(read.metadata.uid).toBe(created.metadata.uid);
  });

  it('refuses an object breaking the CEL rule, with the rule message', async () => {
    const status = await expectKubeError(
      'create with minReplicas > maxReplicas',
      createWidget(widget('bad-cel', { size: 1, minReplicas: 5, maxReplicas: 2 })),
    );
    expect(status.code).toBe(422);
    expect(status.reason).toBe('Invalid');
    expect(status.message).toContain(CEL_MESSAGE);
    // the cause points at the object the rule is declared on, with the rule's message
    expect(status.details?.causes).toContainEqual(expect.objectContaining({ field: 'spec', message: expect.stringContaining(CEL_MESSAGE) }));
  });

  it('refuses a value outside the enum and a missing required field', async () => {
    const badEnum = await expectKubeError('create with color=purple', createWidget(widget('bad-enum', { size: 1, color: 'purple' })));
    expect(badEnum.code).toBe(422);
    expect(badEnum.message).toContain('spec.color');
    expect(badEnum.message).toContain('Unsupported value: "purple"');

    const missing = await expectKubeError(
      'create without spec.size',
      createWidget(widget('bad-missing', {} as Widget['spec'])),
    );
    expect(missing.code).toBe(422);
    expect(missing.message).toContain('spec.size: Required value');

    await expect(getWidget('bad-enum')).rejects.toMatchObject({ code: 404 });
  });
});

describe('status subresource and optimistic concurrency', () => {
  it('keeps spec and status apart and refuses a stale resourceVersion with 409', async () => {
    const created = await createWidget(widget('split', { size: 1 }));

    // status update: only status changes (the spec change in the body is ignored)
    const withStatus = (await custom.replaceNamespacedCustomObjectStatus({
      group, version, namespace: ns.name, plural, name: 'split',
      body: { ...created, spec: { ...created.spec, size: 99 }, status: { phase: 'Ready', observedGeneration: 1 } },
    })) as Widget;
    expect(withStatus.status).toEqual({ phase: 'Ready', observedGeneration: 1 });
    expect(withStatus.spec.size).toBe(1);
    expect(withStatus.metadata.generation).toBe(1);

    // main-resource update: only spec changes (the status in the body is ignored)
    const withSpec = (await custom.replaceNamespacedCustomObject({
      group, version, namespace: ns.name, plural, name: 'split',
      body: { ...withStatus, spec: { ...withStatus.spec, size: 5 }, status: { phase: 'Hacked' } },
    })) as Widget;
    expect(withSpec.spec.size).toBe(5);
    expect(withSpec.status).toEqual({ phase: 'Ready', observedGeneration: 1 });
    expect(withSpec.metadata.generation).toBe(2);

    const stored = await getWidget('split');
    expect(stored.spec.size).toBe(5);
    expect(stored.status?.phase).toBe('Ready');

    // an update based on the old resourceVersion conflicts
    expect(withStatus.metadata.resourceVersion).not.toBe(stored.metadata.resourceVersion);
    const conflict = await expectKubeError(
      'update with a stale resourceVersion',
      custom.replaceNamespacedCustomObject({
        group, version, namespace: ns.name, plural, name: 'split',
        body: { ...withStatus, spec: { ...withStatus.spec, size: 7 } },
      }),
    );
    expect(conflict.code).toBe(409);
    expect(conflict.reason).toBe('Conflict');
    expect((await getWidget('split')).spec.size).toBe(5);
  });
});

describe('watch', () => {
  it('sees ADDED, MODIFIED and DELETED', async () => {
    const list = (await custom.listNamespacedCustomObject({ group, version, namespace: ns.name, plural })) as {
      metadata: { resourceVersion: string };
    };
    const events = new AsyncQueue<{ type: string; obj: Widget }>();
    let watchError: unknown;
    const controller = await new Watch(kc).watch(
      `/apis/${group}/${version}/namespaces/${ns.name}/${plural}`,
      { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: false },
      (type, obj: Widget) => events.push({ type, obj }),
      (err: unknown) => (watchError = err),
    );
    try {
      const name = 'watched';
      const isMine = (t: string) => (e: { type: string; obj: Widget }) => e.type === t && e.obj.metadata.name === name;

      await createWidget(widget(name, { size: 1 }));
      const added = await events.next('ADDED', isMine('ADDED'));
      expect(added.obj.spec.color).toBe('red');

      const current = await getWidget(name);
      await custom.replaceNamespacedCustomObject({
        group, version, namespace: ns.name, plural, name, body: { ...current, spec: { ...current.spec, size: 2 } },
      });
      const modified = await events.next('MODIFIED', isMine('MODIFIED'));
      expect(modified.obj.spec.size).toBe(2);

      await custom.deleteNamespacedCustomObject({ group, version, namespace: ns.name, plural, name });
      const deleted = await events.next('DELETED', isMine('DELETED'));
      expect(deleted.obj.metadata.name).toBe(name);
      expect(watchError).toBeUndefined();
    } finally {
      controller.abort();
    }
  });
});

describe('coordination.k8s.io/v1 Lease', () => {
  it('can be created and renewed', async () => {
    const leases = kc.makeApiClient(CoordinationV1Api);
    const acquired = new V1MicroTime(Date.now() - 60_000);
    const created = await leases.createNamespacedLease({
      namespace: ns.name,
      body: {
        metadata: { name: 'adsync-leader' },
        spec: { holderIdentity: 'replica-a', leaseDurationSeconds: 15, acquireTime: acquired, renewTime: acquired },
      },
    });
    expect(created.spec?.holderIdentity).toBe('replica-a');

    const renewed = new V1MicroTime(acquired.getTime() + 10_000);
    const updated = await leases.replaceNamespacedLease({
      name: 'adsync-leader',
      namespace: ns.name,
      body: { ...created, spec: { ...created.spec, renewTime: renewed } },
    });
    expect(updated.metadata?.resourceVersion).not.toBe(created.metadata?.resourceVersion);

    const read = await leases.readNamespacedLease({ name: 'adsync-leader', namespace: ns.name });
    expect(new Date(read.spec?.renewTime ?? 0).getTime()).toBe(renewed.getTime());
    expect(new Date(read.spec?.acquireTime ?? 0).getTime()).toBe(acquired.getTime());
    expect(read.spec?.holderIdentity).toBe('replica-a');

    // a second writer with the old version loses
    const stale = await expectKubeError(
      'renew from a stale copy',
      leases.replaceNamespacedLease({
        name: 'adsync-leader',
        namespace: ns.name,
        body: { ...created, spec: { ...created.spec, holderIdentity: 'replica-b' } },
      }),
    );
    expect(stale.code).toBe(409);
  });
});

describe('RBAC with an impersonated ServiceAccount', () => {
  it('is forbidden without a Role and allowed after a RoleBinding', async () => {
    const sa = 'adsync-operator';
    await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: sa } } });
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'settings' }, data: { a: '1' } } });

    const asSa = kubeConfigFor(inject('kubeconfigPath'), { impersonate: `system:serviceaccount:${ns.name}:${sa}` }).makeApiClient(CoreV1Api);
    const denied = await expectKubeError('list configmaps as the ServiceAccount', asSa.listNamespacedConfigMap({ namespace: ns.name }));
    expect(denied.code).toBe(403);
    expect(denied.reason).toBe('Forbidden');
    expect(denied.message).toContain(`User "system:serviceaccount:${ns.name}:${sa}" cannot list resource "configmaps"`);

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: 'configmap-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns.name }],
      },
    });

    // The authorizer sees new bindings through its informer: await it, bounded.
    const list = await waitFor('the RoleBinding to take effect', () => asSa.listNamespacedConfigMap({ namespace: ns.name }));
    expect(list.items.map((c) => c.metadata?.name)).toContain('settings');

    // The Role grants reading only.
    const write = await expectKubeError(
      'create a configmap as the ServiceAccount',
      asSa.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'nope' } } }),
    );
    expect(write.code).toBe(403);
  });

  it('issues ServiceAccount tokens the server itself accepts (signing keys wired up)', async () => {
    const sa = 'token-user';
    await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: sa } } });
    const tr = await core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: ns.name,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tr.status?.token;
    expect(token).toMatch(/^ey/);

    const admin = kc.getCurrentCluster();
    if (!admin) throw new Error('no current cluster');
    const byToken = new KubeConfig();
    byToken.loadFromOptions({
      clusters: [admin],
      users: [{ name: 'sa', token }],
      contexts: [{ name: 'sa', cluster: admin.name, user: 'sa' }],
      currentContext: 'sa',
    });
    const review = await byToken.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns.name}:${sa}`);
    expect(review.status?.userInfo?.groups).toContain(`system:serviceaccounts:${ns.name}`);
  });
});
