// The Secret boundary, narrowed (issue 18), on the real API server: an operator run with
// --require-secret-access and allow-lists of LDAP hosts and Truetask URLs. A tenant who
// points an AdSync at another team's Secret stalls with SecretNotAllowed; one who points
// the operator at their own server stalls with EndpointNotAllowed; in neither case does
// the operator connect there (a listener records every byte it receives: none).
import { createServer, type Server, type Socket } from 'node:net';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { SECRET_ACCESS_ANNOTATION } from '../../src/kube/secret-access.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
type Cond = { type: string; status: string; reason: string; message: string };

describe('a shared operator narrowed to opened Secrets and allowed endpoints', () => {
  const ad = inject('ad');
  let admin: KubeConfig;
  let ns: TestNamespace;
  let sim: TruetaskSimulator;
  let controller: RunningController;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let listener: Server;
  let connections = 0;
  let bytes = 0;
  const sockets = new Set<Socket>();
  let port = 0;

  const get = async (name: string) => (await custom.getNamespacedCustomObject({ ...G, namespace: ns.name, name })) as { status?: { conditions?: Cond[] } };
  const cond = async (name: string, type: string) => (await get(name)).status?.conditions?.find((c) => c.type === type);
  const create = (name: string, over: Parameters<typeof adsyncObject>[0] extends infer O ? Partial<O> : never, secrets?: { bind?: string; token?: string }) => {
    const body = adsyncObject({ ad, truetaskUrl: sim.url, namespace: ns.name, name, ...over }) as { spec: { ldap: Record<string, unknown>; truetask: Record<string, unknown> } };
    if (secrets?.bind) body.spec.ldap.bindPasswordSecretRef = { name: secrets.bind };
    if (secrets?.token) body.spec.truetask.tokenSecretRef = { name: secrets.token };
    return custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body });
  };
  const annotate = (secret: string, value: string) =>
    core.patchNamespacedSecret({ namespace: ns.name, name: secret, body: { metadata: { annotations: { [SECRET_ACCESS_ANNOTATION]: value } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));

  beforeAll(async () => {
    admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'tenancy');
    const operatorUser = await installOperatorRbac(admin, ns.name);
    custom = admin.makeApiClient(CustomObjectsApi);
    core = admin.makeApiClient(CoreV1Api);
    sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
    // A tenant's "own server": records every connection and byte, answers nothing.
    listener = createServer((s) => {
      connections++;
      sockets.add(s);
      s.on('data', (b: Buffer) => (bytes += b.length));
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as { port: number }).port;
    // Team A's Secrets, opened to team A's AdSync only; the CA is shared by everyone.
    for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ns.name })) {
      const meta = s.metadata as { name: string; annotations?: Record<string, string> };
      meta.annotations = { [SECRET_ACCESS_ANNOTATION]: meta.name === 'ad-ca' ? '*' : 'team-a' };
      await core.createNamespacedSecret({ namespace: ns.name, body: s as never });
    }
    controller = await startController(
      operatorOptions(inject('kubeconfigPath'), operatorUser, ns.name, {
        logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
        concurrency: 2,
        secretPollMs: 500,
        schedule: { retryBaseMs: 500, retryMaxMs: 2000 },
        requireSecretAccess: true,
        endpoints: { ldapHosts: [ad.ip], truetaskUrls: [sim.url] },
      }),
    );
  });

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => listener?.close(resolve));
    await ns?.delete();
  });

  it('runs an AdSync whose Secrets are opened to it, on allowed endpoints', async () => {
    await create('team-a', {});
    await waitFor('team-a ready', async () => (await cond('team-a', 'Ready'))?.status === 'True', { timeoutMs: 60_000 });
  });

  it("stalls a tenant who uses another team's Secret (SecretNotAllowed), sending it nowhere; opening the Secret lets it run", async () => {
    // Team B's AdSync on an allowed DC, with team A's bind password: refused before any bind.
    await create('team-b', {});
    const stalled = await waitFor('team-b stalled', async () => {
      const c = await cond('team-b', 'Stalled');
      return c?.reason === 'SecretNotAllowed' ? c : undefined;
    }, { timeoutMs: 60_000 });
    expect(stalled.message).toMatch(new RegExp(`Secret ${ns.name}/ad-bind is not opened to AdSync ${ns.name}/team-b: .*lists only "team-a".*annotate secret ad-bind ${SECRET_ACCESS_ANNOTATION}=team-b`));
    expect(await cond('team-b', 'DirectoryConnected')).toBeUndefined();
    // The Secret's owner opens it to team B too: the poll of a stalled AdSync's Secrets picks that up.
    await annotate('ad-bind', 'team-a, team-b');
    await annotate('truetask-api', 'team-a,team-b');
    await waitFor('team-b ready once opened', async () => (await cond('team-b', 'Ready'))?.status === 'True', { timeoutMs: 60_000 });
  });

  it("stalls a tenant who points the operator at their own DC or Truetask (EndpointNotAllowed), before reading a Secret or connecting", async () => {
    await create('own-dc', { ldap: { url: `ldaps://127.0.0.1:${port}` } });
    await create('own-truetask', { truetaskUrl: `http://127.0.0.1:${port}` });
    await create('own-failover', { ldap: { failover: [{ url: `ldaps://127.0.0.1:${port}` }] } });
    for (const [name, field] of [['own-dc', 'spec.ldap.url'], ['own-truetask', 'spec.truetask.url'], ['own-failover', 'spec.ldap.failover\\[0\\].url']] as const) {
      const c = await waitFor(`${name} stalled`, async () => {
        const s = await cond(name, 'Stalled');
        return s?.reason === 'EndpointNotAllowed' ? s : undefined;
      }, { timeoutMs: 60_000 });
      expect(c.message).toMatch(new RegExp(`^${field}: .*127\\.0\\.0\\.1:${port}.* is not a .* this operator may .*(allowed: ${ad.ip}|allowed: ${sim.url.replace(/[.]/g, '\\.')})`));
    }
    expect(connections).toBe(0);
    expect(bytes).toBe(0);
  });
});
