// What the real kube-apiserver refuses at admission (the CEL rules generated from
// src/api/rules.ts), with the same message zod gives the CLI; what only the
// controller can refuse (a filter that does not parse), reported as an InvalidSpec
// condition and event before any LDAP connection; and `kubectl explain` for every
// field of spec and status.
import { execFile } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adSyncCrd } from '../../src/api/crd.ts';
import { FAILOVER_PLAINTEXT_MESSAGE, LDAP_PLAINTEXT_MESSAGE, TIMEOUT_MESSAGE, TRUETASK_PLAINTEXT_MESSAGE } from '../../src/api/rules.ts';
import { DN_MESSAGE, FAILOVER_STARTTLS_MESSAGE, GROUP_CONTROL_MESSAGE, GROUP_REF_MESSAGE, USER_FILTER_MESSAGE } from '../../src/api/rules.ts';
import { adSyncSpecSchema } from '../../src/api/spec.ts';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { expectKubeError, waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const run = promisify(execFile);
const G = { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' };
const BROKEN =
  '(&(objectCategory=person)(objectClass=user)(|(userPrincipalName=alan.turing@corp.example.com)(userPrincipalName=ken.thompson@corp.example.com)';

const spec = (over: Record<string, unknown> = {}, ldap: Record<string, unknown> = {}, truetask: Record<string, unknown> = {}) => ({
  ldap: { url: 'ldaps://10.0.10.14:636', baseDN: 'DC=corp,DC=example,DC=com', bindDN: 'svc@corp.example.com', bindPasswordSecretRef: { name: 'ad-bind' }, ...ldap },
  truetask: { url: 'https://truetask.corp.example.com', tokenSecretRef: { name: 'truetask-api' }, ...truetask },
  ...over,
});

/** zod's messages for a spec, as `path: message` (the CLI prints these). */
function zodIssues(s: unknown): Array<{ path: string; message: string }> {
  const r = adSyncSpecSchema.safeParse(s);
  return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

let admin: KubeConfig;
let ns: TestNamespace;
let custom: CustomObjectsApi;
let n = 0;
const create = (s: unknown) =>
  custom.createNamespacedCustomObject({ ...G, namespace: ns.name, body: { apiVersion: 'truetask.io/v1alpha1', kind: 'AdSync', metadata: { name: `a${n++}` }, spec: s } });

beforeAll(async () => {
  admin = kubeConfigFor(inject('kubeconfigPath'));
  await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
  ns = await createTestNamespace(admin, 'admission');
  custom = admin.makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  await ns?.delete();
});

describe('admission (CEL) refuses what it can, with the message zod gives the CLI', () => {
  it.each([
    ['the filter of the issue (its last two parentheses missing)', spec({ userFilter: BROKEN }), 'spec.userFilter', USER_FILTER_MESSAGE],
    ['an unbalanced filter', spec({ userFilter: '(&(objectClass=user)(cn=a)' }), 'spec.userFilter', USER_FILTER_MESSAGE],
    ['a filter with one ")" too many', spec({ userFilter: '(&(objectClass=user)(cn=a)))' }), 'spec.userFilter', USER_FILTER_MESSAGE],
    ['a filter without parentheses', spec({ userFilter: 'objectClass=user' }), 'spec.userFilter', USER_FILTER_MESSAGE],
    ['a base DN that is a domain name', spec({}, { baseDN: 'corp.example.com' }), 'spec.ldap.baseDN', DN_MESSAGE],
    ['an excluded OU with a trailing comma', spec({ excludedOUs: ['OU=Service Accounts,DC=corp,DC=example,DC=com', 'OU=Staff,DC=corp,'] }), 'spec.excludedOUs[1]', DN_MESSAGE],
    ['an excluded OU with an unescaped "<"', spec({ excludedOUs: ['OU=a<b,DC=corp'] }), 'spec.excludedOUs[0]', DN_MESSAGE],
    ['an excluded OU given as a name', spec({ excludedOUs: ['Service Accounts'] }), 'spec.excludedOUs[0]', DN_MESSAGE],
    ['an admin group given as a broken DN', spec({ adminPromotion: { enabled: true, groups: ['Admin', 'CN=IT-Admins,OU=Groups,DC=corp,'] } }), 'spec.adminPromotion.groups[1]', GROUP_REF_MESSAGE],
    ['an admin group DN with an unescaped quote', spec({ adminPromotion: { enabled: true, groups: ['CN="IT, Admins",DC=corp'] } }), 'spec.adminPromotion.groups[0]', GROUP_REF_MESSAGE],
    ['an admin group name with a NUL', spec({ adminPromotion: { enabled: true, groups: ['Admin\0'] } }), 'spec.adminPromotion.groups[0]', GROUP_CONTROL_MESSAGE],
    ['startTLS with an ldaps:// failover DC', spec({}, { url: 'ldap://10.0.10.14:389', startTLS: true, failover: [{ url: 'ldap://10.0.10.15:389' }, { url: 'ldaps://10.0.10.16:636' }] }), 'spec.ldap.failover', FAILOVER_STARTTLS_MESSAGE],
    ['ldap:// without startTLS (clear text)', spec({}, { url: 'ldap://10.0.10.14:389' }), 'spec.ldap.url', LDAP_PLAINTEXT_MESSAGE],
    ['an ldap:// failover DC behind an ldaps:// one (clear text)', spec({}, { failover: [{ url: 'ldaps://10.0.10.15:636' }, { url: 'ldap://10.0.10.16:389' }] }), 'spec.ldap.failover', FAILOVER_PLAINTEXT_MESSAGE],
    ['a run timeout under 10s', spec({ timeout: '5s' }), 'spec.timeout', TIMEOUT_MESSAGE],
    ['an http:// Truetask URL (clear text)', spec({}, {}, { url: 'http://truetask.corp.example.com' }), 'spec.truetask.url', TRUETASK_PLAINTEXT_MESSAGE],
  ])('refuses %s', async (_what, s, field, message) => {
    const status = await expectKubeError('create', create(s));
    expect(status.code).toBe(422);
    expect(status.details?.causes).toContainEqual(expect.objectContaining({ field, message: expect.stringContaining(message) }));
    // the CLI (zod) refuses it with the same message, followed by where it breaks when it can say
    const zod = zodIssues(s);
    expect(zod).toHaveLength(1);
    expect(zod[0]!.path).toBe(field.replace(/^spec\./, '').replace(/\[(\d+)\]/g, '.$1'));
    expect(zod[0]!.message.startsWith(message)).toBe(true);
  });

  it.each([
    ['escaped parentheses in a value', spec({ userFilter: '(&(objectClass=user)(cn=Smith \\28IT\\29))' })],
    ['* and \\ escaped in values, and non-ASCII', spec({ userFilter: '(|(cn=Ops\\2aAdmins)(cn=Back\\5cslash)(cn=José Müller)(cn=Jos\\c3\\a9))' })],
    ['the default filter', spec()],
    ['failover DCs, each with its own serverName, and fullSyncInterval "0"', spec({ fullSyncInterval: '0' }, { failover: [{ url: 'ldaps://10.0.10.15:636', serverName: 'dc2.corp.example.com' }, { url: 'ldaps://dc3.corp.example.com' }] })],
    ['DNs with escapes, spaces, "+" and non-ASCII', spec({ excludedOUs: ['ou=service accounts, dc=corp, dc=example, dc=com', 'CN=Smith\\, John,OU=Sales,DC=corp', 'OU=Équipe\\2C Paris+L=FR,DC=corp', 'CN=\\#1,DC=corp'] }, { baseDN: 'dc=corp,dc=example,dc=com' })],
    ['clear text on purpose: ldap:// and an ldap:// failover DC with insecurePlaintext', spec({}, { url: 'ldap://10.0.10.14:389', insecurePlaintext: true, failover: [{ url: 'ldap://10.0.10.15:389' }] })],
    ['clear text on purpose: http:// with insecurePlaintext', spec({}, {}, { url: 'http://truetask.corp.example.com', insecurePlaintext: true })],
    ['a run timeout of 1h', spec({ timeout: '1h' })],
    ['ldap:// with startTLS', spec({}, { url: 'ldap://10.0.10.14:389', startTLS: true, failover: [{ url: 'ldap://10.0.10.15:389' }] })],
    ['admin groups by name (any characters) and by DN', spec({ adminPromotion: { enabled: true, groups: ['Admin', 'IT Admins (EU)*', 'Back\\slash', 'CN=IT-Admins,OU=Groups,DC=corp,DC=example,DC=com'] } })],
  ])('accepts %s (and so does zod)', async (_what, s) => {
    await create(s);
    expect(zodIssues(s)).toEqual([]);
  });

  it.each([
    ['two filters side by side', '(objectClass=user)(cn=*)', /text after the end of the filter \(position 19\)/],
    ['a balanced but unescaped parenthesis in a value', '(cn=Smith (IT))', /unescaped "\(" in a value \(position 11\)/],
    ['a space between filters', '(&(objectClass=user) (cn=a))', /unexpected space inside "\(&" \(position 21\)/],
    ['a NUL in a value', '(&(objectClass=user)(sAMAccountName=mary.jackson\\00))', /a NUL character \(\\00\) in a value \(position 49\)/],
  ])('lets %s through (CEL cannot parse); zod refuses it, saying where', async (_what, userFilter, where) => {
    await create(spec({ userFilter }));
    const zod = zodIssues(spec({ userFilter }));
    expect(zod.map((i) => i.path)).toEqual(['userFilter']);
    expect(zod[0]!.message).toMatch(/^userFilter is not a valid LDAP filter \(RFC 4515\): /);
    expect(zod[0]!.message).toMatch(where);
  });
});

describe('the controller refuses a filter that does not parse: InvalidSpec, before any LDAP connection', () => {
  const ad = inject('ad');
  let sim: TruetaskSimulator;
  let controller: RunningController;
  let proxy: Server;
  let connections = 0;
  let core: CoreV1Api;
  let ctlNs: TestNamespace;

  beforeAll(async () => {
    ctlNs = await createTestNamespace(admin, 'invalid-spec');
    core = admin.makeApiClient(CoreV1Api);
    const operatorUser = await installOperatorRbac(admin, ctlNs.name);
    // Every LDAP connection goes through this proxy to the real DC, and is counted.
    proxy = createServer((client: Socket) => {
      connections++;
      const upstream = connect(636, ad.ip);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
    for (const s of secretObjects({ ad, truetaskUrl: sim.url, namespace: ctlNs.name })) await core.createNamespacedSecret({ namespace: ctlNs.name, body: s as never });
    controller = await startController(
      operatorOptions(inject('kubeconfigPath'), operatorUser, ctlNs.name, {
        logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
        writeConcurrency: 2,
        schedule: { retryBaseMs: 200, retryMaxMs: 1000 },
      }),
    );
  });

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    await new Promise((resolve) => proxy?.close(resolve));
    await ctlNs?.delete();
  });

  it('reports the condition and one event with where the filter breaks, connects to no DC, and runs once the spec is fixed', async () => {
    const port = (proxy.address() as { port: number }).port;
    const body = adsyncObject({ ad, truetaskUrl: sim.url, namespace: ctlNs.name, name: 'typo', ldap: { url: `ldaps://127.0.0.1:${port}` }, spec: { userFilter: '(objectClass=user)(cn=*)' } });
    await custom.createNamespacedCustomObject({ ...G, namespace: ctlNs.name, body });
    type Cond = { type: string; status: string; reason: string; message: string };
    const get = async () => (await custom.getNamespacedCustomObject({ ...G, namespace: ctlNs.name, name: 'typo' })) as { metadata: { generation: number }; status?: { observedGeneration?: number; nextSyncAt?: string; conditions?: Cond[] } };
    const ready = (o: Awaited<ReturnType<typeof get>>) => o.status?.conditions?.find((c) => c.type === 'Ready');

    const refused = await waitFor('Ready=False InvalidSpec', async () => {
      const o = await get();
      return ready(o)?.reason === 'InvalidSpec' ? o : undefined;
    });
    const cond = ready(refused)!;
    expect(cond.status).toBe('False');
    expect(cond.message).toMatch(/^spec\.userFilter: userFilter is not a valid LDAP filter \(RFC 4515\): text after the end of the filter \(position 19\): "\(objectClass=user\)»\(cn=\*\)"/);
    expect(refused.status?.observedGeneration).toBe(refused.metadata.generation);
    expect(refused.status?.nextSyncAt).toBeUndefined(); // no retry scheduled: a person must fix the spec
    const events = async () => (await core.listNamespacedEvent({ namespace: ctlNs.name, fieldSelector: 'involvedObject.name=typo' })).items;
    const invalid = await waitFor('InvalidSpec event', async () => (await events()).find((e) => e.reason === 'InvalidSpec'));
    expect(invalid.type).toBe('Warning');
    expect(invalid.message).toBe(cond.message);
    expect(connections).toBe(0);

    await custom.patchNamespacedCustomObject(
      { ...G, namespace: ctlNs.name, name: 'typo', body: { spec: { userFilter: '(&(objectClass=user)(cn=*))' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const fixed = await waitFor('a preview after the fix', async () => {
      const o = await get();
      return ready(o)?.status === 'True' ? o : undefined;
    }, { timeoutMs: 60_000 });
    expect(fixed.status?.observedGeneration).toBe(fixed.metadata.generation);
    expect(connections).toBeGreaterThan(0);
    // one InvalidSpec event for the one invalid generation: the controller's own status write did not repeat it
    const all = (await events()).filter((e) => e.reason === 'InvalidSpec');
    expect(all.map((e) => e.count ?? 1)).toEqual([1]);
  });
});

describe('kubectl explain', () => {
  it('describes every field of spec and status', async () => {
    const kubectl = `${inject('kubeBinDir')}/kubectl`;
    const env = { ...process.env, KUBECONFIG: inject('kubeconfigPath') };
    const paths: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(props ?? {})) {
        paths.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
        if (v.items && typeof v.items === 'object') walk(v.items as Record<string, unknown>, `${path}.${k}`);
      }
    };
    const root = (adSyncCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: Record<string, Record<string, unknown>> } } }> } }).spec.versions[0]!.schema
      .openAPIV3Schema.properties;
    walk(root.spec!, 'adsync.spec');
    walk(root.status!, 'adsync.status');
    expect(paths).toContain('adsync.status.lastSync.result');
    expect(paths).toContain('adsync.status.preview.users.email');
    expect(paths).toContain('adsync.status.leavers.users.reason');
    expect(paths).toContain('adsync.status.leavers.stale');
    expect(paths).toContain('adsync.spec.fullSyncInterval');
    expect(paths).toContain('adsync.spec.ldap.failover.serverName');
    expect(paths).toContain('adsync.status.server.invocationId');
    expect(paths).toContain('adsync.status.lastRun.kind');
    expect(paths).toContain('adsync.spec.safeguard.maxCreates');
    expect(paths).toContain('adsync.spec.safeguard.growthFloor');
    expect(paths).toContain('adsync.status.pendingApproval.digest');
    expect(paths).toContain('adsync.status.pendingApproval.users.email');
    expect(paths).toContain('adsync.status.lastApproved.approvedChanges');
    const describedAs = async (p: string): Promise<string> => {
      const { stdout } = await run(kubectl, ['explain', p], { env });
      return /DESCRIPTION:\n([\s\S]*?)(\n\n|$)/.exec(stdout)?.[1]?.trim() ?? '';
    };
    // The API server publishes a new or changed CRD's OpenAPI a moment after it is established.
    await waitFor('the AdSync schema to be published for kubectl explain', async () => (await describedAs('adsync.status.lastSync.result')).includes('PartiallyFailed'), { timeoutMs: 60_000, intervalMs: 500 });
    const undescribed: string[] = [];
    const queue = [...paths];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
          const description = await describedAs(p);
          if (description === '' || description === '<empty>') undescribed.push(p);
        }
      }),
    );
    expect(undescribed).toEqual([]);
  });
});
