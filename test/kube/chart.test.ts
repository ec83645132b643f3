// The Helm chart (charts/truetask-adsync), the kustomize installs (deploy/base and
// deploy/overlays/namespaced) and the Dockerfile: linted, rendered with several value
// sets and checked object by object against what deploy/base ships (the RBAC there is
// proven minimal by controller.test.ts), then applied with `--dry-run=server` to the
// real test API server in namespaces that enforce the restricted Pod Security profile.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { repoRoot, runCommand, runTool, toolsBinDir, type RunResult } from '../tools/bin.ts';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
type Container = {
  name: string;
  args?: string[];
  env?: unknown[];
  ports?: unknown[];
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  resources?: unknown;
  securityContext?: Record<string, unknown>;
  volumeMounts?: unknown[];
  image?: string;
};
type PodSpec = {
  serviceAccountName?: string;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: unknown[];
  [key: string]: unknown;
};
type Deployment = Obj & { spec: { replicas: number; selector: unknown; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };

const CHART = join(repoRoot, 'charts', 'truetask-adsync');
const RELEASE = 'truetask-adsync';

function docs(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && typeof o === 'object');
}

async function fileDocs(path: string): Promise<Obj[]> {
  return docs(await readFile(join(repoRoot, path), 'utf8'));
}

const find = (objs: Obj[], kind: string, name?: string, namespace?: string): Obj[] =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name) && (namespace === undefined || o.metadata.namespace === namespace));

function one<T extends Obj = Obj>(objs: Obj[], kind: string, name?: string, namespace?: string): T {
  const found = find(objs, kind, name, namespace);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}${namespace ? ` in ${namespace}` : ''}, found ${found.length}: ${found.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`).join(', ')}`);
  return found[0] as T;
}

const rulesOf = (o: Obj): Rule[] => o.rules as Rule[];
const controllerOf = (d: Deployment): Container => {
  const c = d.spec.template.spec.containers.find((x) => x.name === 'controller');
  if (!c) throw new Error(`Deployment ${d.metadata.name} has no controller container`);
  return c;
};

/** Is any ClusterRole or Role granting something on this resource? */
const grants = (objs: Obj[], kind: 'ClusterRole' | 'Role', resource: string): Obj[] =>
  find(objs, kind).filter((o) => rulesOf(o).some((r) => r.resources.includes(resource)));

describe('the Helm chart and the kustomize installs', () => {
  let work: string;
  let kubectlBin: string;
  let kubeEnv: NodeJS.ProcessEnv;
  let baseRbac: Obj[];
  let baseDeployment: Deployment;
  let alertsFile: { groups: Array<{ name: string; rules: unknown[] }> };
  const namespaces: TestNamespace[] = [];

  const kubectl = (args: string[], input?: string): Promise<RunResult> =>
    runCommand(kubectlBin, args, { env: kubeEnv, ...(input === undefined ? {} : { input }), timeoutMs: 60_000 });

  /** `helm template` with these values (as a values file, the way users pass them). */
  const template = async (values: Record<string, unknown> = {}, namespace = RELEASE, extra: string[] = []): Promise<RunResult> => {
    const file = join(work, `values-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, stringify(values));
    return runTool('helm', ['template', RELEASE, CHART, '--namespace', namespace, '--values', file, ...extra]);
  };
  const render = async (values: Record<string, unknown> = {}, namespace = RELEASE): Promise<{ text: string; objs: Obj[] }> => {
    const r = await template(values, namespace);
    if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
    return { text: r.stdout, objs: docs(r.stdout) };
  };

  /** A namespace that enforces (and warns about) the restricted Pod Security profile. */
  const restrictedNamespace = async (prefix: string): Promise<string> => {
    const ns = await createTestNamespace(kubeConfigFor(inject('kubeconfigPath')), prefix);
    namespaces.push(ns);
    const r = await kubectl(['label', 'namespace', ns.name, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted']);
    expect(r.code, r.stderr).toBe(0);
    return ns.name;
  };

  /**
   * `kubectl apply --dry-run=server -f -`: must succeed with no warning (a PodSecurity
   * warning in particular). The only tolerated warning is kubectl's note that an
   * existing object (the CRD another test installed server-side) lacks its
   * last-applied annotation.
   */
  const dryRunClean = async (manifests: string): Promise<RunResult> => {
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], manifests);
    expect(r.code, `kubectl apply --dry-run=server failed:\n${r.stderr}`).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => /warning/i.test(l) && !/last-applied-configuration/.test(l));
    expect(warnings, r.stderr).toEqual([]);
    expect(r.stderr).not.toMatch(/PodSecurity/);
    expect(r.stdout).toMatch(/\(server dry run\)/);
    return r;
  };

  /**
   * The Deployment's pod template as a Pod, dry-run created: this is where the
   * namespace's `enforce` level applies (for Deployments the API server only warns).
   * The Pod's ServiceAccount must exist, so the rendered ones are created for real.
   */
  const dryRunPodOf = async (objs: Obj[], namespace: string): Promise<RunResult> => {
    const d = one<Deployment>(objs, 'Deployment');
    for (const sa of find(objs, 'ServiceAccount')) {
      const r = await kubectl(['apply', '-f', '-'], stringify({ ...sa, metadata: { ...sa.metadata, namespace } }));
      expect(r.code, r.stderr).toBe(0);
    }
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${d.metadata.name}-pod-check`, namespace, labels: d.spec.template.metadata.labels },
      spec: d.spec.template.spec,
    };
    return kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], stringify(pod));
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'chart-test-'));
    await toolsBinDir();
    kubectlBin = join(inject('kubeBinDir'), 'kubectl');
    kubeEnv = { ...process.env, KUBECONFIG: inject('kubeconfigPath') };
    baseRbac = await fileDocs('deploy/base/rbac.yaml');
    baseDeployment = one<Deployment>(await fileDocs('deploy/base/deployment.yaml'), 'Deployment');
    alertsFile = parse(await readFile(join(CHART, 'files', 'alerts.yaml'), 'utf8')) as typeof alertsFile;

    // Test-only stand-ins for prometheus-operator's CRDs, so the monitoring kinds are accepted.
    const crds = await kubectl(['apply', '-f', join(repoRoot, 'test', 'fixtures', 'monitoring-crds.yaml')]);
    expect(crds.code, crds.stderr).toBe(0);
    const established = await kubectl([
      'wait', '--for=condition=Established', '--timeout=60s',
      'crd/servicemonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com',
    ]);
    expect(established.code, established.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const ns of namespaces) await ns.delete();
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('helm lint and template', () => {
    it('passes `helm lint --strict` with the defaults and with every option on', async () => {
      const everything = join(work, 'lint-everything.yaml');
      await writeFile(
        everything,
        stringify({
          watchNamespaces: ['team-a', 'team-b'],
          metrics: { service: { enabled: true } },
          serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
          prometheusRule: { enabled: true, leavers: { enabled: true, for: '3d' } },
          networkPolicy: { enabled: true, directory: { cidrs: ['10.0.10.14/32'] }, truetask: { cidrs: ['10.20.0.0/16'] } },
        }),
      );
      for (const args of [[], ['--values', everything]]) {
        const r = await runTool('helm', ['lint', '--strict', CHART, ...args]);
        expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
        expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
      }
    });

    it('by default: cluster-wide RBAC with exactly the rules of deploy/base, leader election, PDB, no monitoring', async () => {
      const { objs } = await render();
      expect(objs.map((o) => o.kind).sort()).toEqual(
        ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'ServiceAccount'].sort(),
      );
      expect(rulesOf(one(objs, 'ClusterRole'))).toEqual(rulesOf(one(baseRbac, 'ClusterRole')));
      const crb = one(objs, 'ClusterRoleBinding');
      expect(crb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: one(objs, 'ClusterRole').metadata.name });
      expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: 'truetask-adsync', namespace: RELEASE }]);

      // Leader election: the Lease only, in the release namespace.
      const leader = one(objs, 'Role');
      expect(leader.metadata.namespace).toBe(RELEASE);
      expect(rulesOf(leader)).toEqual(rulesOf(one(baseRbac, 'Role')));
      expect(rulesOf(leader)).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
      expect(one(objs, 'RoleBinding').subjects).toEqual([{ kind: 'ServiceAccount', name: 'truetask-adsync', namespace: RELEASE }]);

      const sa = one(objs, 'ServiceAccount');
      expect(sa.metadata.name).toBe('truetask-adsync');
      expect(sa.automountServiceAccountToken).toBe(true);

      const pdb = one(objs, 'PodDisruptionBudget');
      expect((pdb.spec as { minAvailable: number }).minAvailable).toBe(1);
      const d = one<Deployment>(objs, 'Deployment');
      expect((pdb.spec as { selector: unknown }).selector).toEqual(d.spec.selector);
    });

    it('the Deployment mirrors deploy/base: args, env, probes, resources, the restricted security context, /tmp', async () => {
      const { objs } = await render();
      const d = one<Deployment>(objs, 'Deployment');
      const base = baseDeployment;
      expect(d.spec.replicas).toBe(2);
      const pod = d.spec.template.spec;
      const c = controllerOf(d);
      const b = controllerOf(base);
      expect(c.args).toEqual(b.args);
      expect(c.env).toEqual(b.env);
      expect(c.ports).toEqual(b.ports);
      expect(c.livenessProbe).toEqual(b.livenessProbe);
      expect(c.readinessProbe).toEqual(b.readinessProbe);
      expect(c.resources).toEqual(b.resources);
      expect(c.volumeMounts).toEqual(b.volumeMounts);
      expect(pod.volumes).toEqual(base.spec.template.spec.volumes);
      expect(c.image).toBe('ghcr.io/truetask/truetask-adsync:0.1.0');
      expect(pod.serviceAccountName).toBe('truetask-adsync');
      expect(pod.terminationGracePeriodSeconds).toBe(60);

      // The restricted Pod Security profile, spelled out.
      expect(pod.securityContext).toEqual(base.spec.template.spec.securityContext);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toEqual(b.securityContext);
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'metrics' } });
      expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'metrics' } });
    });

    it('values reach the pod: image, scheduling, labels, annotations, priority, extra args, controller flags', async () => {
      const { objs } = await render({
        image: { repository: 'registry.example.com/truetask-adsync', tag: '0.2.0', pullPolicy: 'Always' },
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ops', effect: 'NoSchedule' }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } },
        podAnnotations: { 'example.com/team': 'platform' },
        podLabels: { team: 'platform' },
        priorityClassName: 'platform-critical',
        concurrency: 4,
        writeConcurrency: 2,
        leaderElection: { enabled: true, id: 'adsync-lease', leaseDurationSeconds: 30 },
        logLevel: 'debug',
        extraArgs: ['--kubeconfig=/dev/null'],
        serviceAccount: { create: true, name: 'adsync', annotations: { 'example.com/role': 'x' }, automount: true },
      });
      const d = one<Deployment>(objs, 'Deployment');
      const pod = d.spec.template.spec;
      const c = controllerOf(d);
      expect(c.image).toBe('registry.example.com/truetask-adsync:0.2.0');
      expect((c as { imagePullPolicy?: string }).imagePullPolicy).toBe('Always');
      expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
      expect(pod.tolerations).toHaveLength(1);
      expect(pod.affinity).toHaveProperty('nodeAffinity');
      expect(pod.priorityClassName).toBe('platform-critical');
      expect(d.spec.template.metadata.labels).toMatchObject({ team: 'platform', 'app.kubernetes.io/name': 'truetask-adsync' });
      expect((d.spec.template.metadata as { annotations?: unknown }).annotations).toEqual({ 'example.com/team': 'platform' });
      expect(c.args).toEqual([
        'controller',
        '--metrics-bind-address=0.0.0.0:8080',
        '--leader-election-id=adsync-lease',
        '--lease-duration=30',
        '--concurrency=4',
        '--write-concurrency=2',
        '--kubeconfig=/dev/null',
      ]);
      expect(c.env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
      expect(pod.serviceAccountName).toBe('adsync');
      expect(one(objs, 'ServiceAccount').metadata.annotations).toEqual({ 'example.com/role': 'x' });
      for (const binding of [...find(objs, 'ClusterRoleBinding'), ...find(objs, 'RoleBinding')]) {
        expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'adsync', namespace: RELEASE }]);
      }
    });

    it('watchNamespaces: a Role + RoleBinding with the same rules per namespace, --namespaces, no cluster-wide access', async () => {
      const { objs } = await render({ watchNamespaces: ['team-a', 'team-b'] });
      expect(find(objs, 'ClusterRole')).toEqual([]);
      expect(find(objs, 'ClusterRoleBinding')).toEqual([]);
      for (const resource of ['adsyncs', 'adsyncs/status', 'secrets', 'events']) expect(grants(objs, 'ClusterRole', resource)).toEqual([]);
      for (const ns of ['team-a', 'team-b']) {
        const role = one(objs, 'Role', 'truetask-adsync-controller', ns);
        expect(rulesOf(role)).toEqual(rulesOf(one(baseRbac, 'ClusterRole')));
        const binding = one(objs, 'RoleBinding', 'truetask-adsync-controller', ns);
        expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'truetask-adsync-controller' });
        expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'truetask-adsync', namespace: RELEASE }]);
      }
      // Nothing about AdSyncs or Secrets anywhere else (the leader-election Role is Leases only).
      expect(grants(objs, 'Role', 'secrets').map((r) => r.metadata.namespace).sort()).toEqual(['team-a', 'team-b']);
      expect(rulesOf(one(objs, 'Role', 'truetask-adsync-leader-election', RELEASE))).toEqual(rulesOf(one(baseRbac, 'Role')));
      expect(controllerOf(one<Deployment>(objs, 'Deployment')).args).toContain('--namespaces=team-a,team-b');
    });

    it('monitoring is off unless asked; with it on: a metrics Service, a ServiceMonitor keeping the AdSync labels, and the alerts of files/alerts.yaml', async () => {
      const off = await render();
      for (const kind of ['Service', 'ServiceMonitor', 'PrometheusRule']) expect(find(off.objs, kind)).toEqual([]);

      const { objs } = await render({ serviceMonitor: { enabled: true, labels: { release: 'kps' } }, prometheusRule: { enabled: true, labels: { release: 'kps' } } });
      const svc = one(objs, 'Service');
      const d = one<Deployment>(objs, 'Deployment');
      expect((svc.spec as { selector: unknown }).selector).toEqual((d.spec.selector as { matchLabels: unknown }).matchLabels);
      expect((svc.spec as { ports: unknown }).ports).toEqual([{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);

      const sm = one(objs, 'ServiceMonitor');
      expect(sm.metadata.labels).toMatchObject({ release: 'kps' });
      const smSpec = sm.spec as { endpoints: Array<Record<string, unknown>>; selector: { matchLabels: Record<string, string> }; targetLabels: string[] };
      expect(smSpec.endpoints).toHaveLength(1);
      expect(smSpec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics', honorLabels: true });
      expect(svc.metadata.labels).toMatchObject(smSpec.selector.matchLabels);
      // The operator-down alert finds the up series by this label, not by a job name.
      expect(smSpec.targetLabels).toEqual(['app.kubernetes.io/part-of']);
      expect(svc.metadata.labels?.['app.kubernetes.io/part-of']).toBe('truetask-adsync');

      const rule = one(objs, 'PrometheusRule');
      expect(rule.metadata.labels).toMatchObject({ release: 'kps' });
      // every group of files/alerts.yaml but the leavers alert, which is off unless asked for
      expect((rule.spec as { groups: unknown }).groups).toEqual(alertsFile.groups.filter((g) => g.name !== 'truetask-adsync-leavers'));

      // Only the metrics Service, without a ServiceMonitor.
      const svcOnly = await render({ metrics: { service: { enabled: true } } });
      expect(find(svcOnly.objs, 'Service')).toHaveLength(1);
      expect(find(svcOnly.objs, 'ServiceMonitor')).toEqual([]);
    });

    it('the PrometheusRule leaves out the operator-down group when the chart has no ServiceMonitor', async () => {
      const { objs } = await render({ prometheusRule: { enabled: true } });
      const groups = (one(objs, 'PrometheusRule').spec as { groups: Array<{ name: string }> }).groups;
      expect(groups).toEqual(alertsFile.groups.filter((g) => g.name !== 'truetask-adsync-operator' && g.name !== 'truetask-adsync-leavers'));
      expect(groups.length).toBe(alertsFile.groups.length - 2);
    });

    it('the leavers alert is off by default; on, with the duration asked for, or 7d', async () => {
      const ruleOf = async (values: Record<string, unknown>) => {
        const groups = (one((await render({ prometheusRule: { enabled: true, ...values } })).objs, 'PrometheusRule').spec as { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> }).groups;
        return groups.find((g) => g.name === 'truetask-adsync-leavers')?.rules;
      };
      const shipped = alertsFile.groups.find((g) => g.name === 'truetask-adsync-leavers')?.rules as Array<Record<string, unknown>>;
      expect(shipped.map((r) => r.alert)).toEqual(['TruetaskAdsyncDisabledUsersActive']);
      expect(await ruleOf({})).toBeUndefined();
      expect(await ruleOf({ leavers: { enabled: false, for: '1d' } })).toBeUndefined();
      expect(await ruleOf({ leavers: { enabled: true } })).toEqual(shipped.map((r) => ({ ...r, for: '7d' })));
      expect(await ruleOf({ leavers: { enabled: true, for: '72h' } })).toEqual(shipped.map((r) => ({ ...r, for: '72h' })));
      // the file itself is left as it is (promtool tests it with 7d)
      expect(shipped[0]?.for).toBe('7d');
    });

    it('networkPolicy: ingress only to the metrics port; egress to DNS, the API server, the DCs and Truetask', async () => {
      expect(find((await render()).objs, 'NetworkPolicy')).toEqual([]);
      const { objs } = await render({
        networkPolicy: {
          enabled: true,
          directory: { cidrs: ['10.0.10.14/32', '10.0.10.15/32'], ports: [636] },
          truetask: { cidrs: ['10.20.0.0/16'], ports: [443] },
          apiServer: { cidrs: ['172.18.0.2/32'], ports: [6443] },
          metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        },
      });
      const np = one(objs, 'NetworkPolicy');
      const spec = np.spec as {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: Array<{ ports: unknown[]; from?: unknown[] }>;
        egress: Array<{ ports: Array<{ protocol: string; port: number | string }>; to?: Array<Record<string, unknown>> }>;
      };
      expect(spec.podSelector.matchLabels).toEqual((one<Deployment>(objs, 'Deployment').spec.selector as { matchLabels: unknown }).matchLabels);
      expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(spec.ingress).toEqual([
        { ports: [{ protocol: 'TCP', port: 'metrics' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
      ]);
      const byPorts = (ports: Array<number | string>) => spec.egress.find((e) => JSON.stringify(e.ports.map((p) => p.port)) === JSON.stringify(ports));
      expect(byPorts([53, 53])?.ports.map((p) => p.protocol)).toEqual(['UDP', 'TCP']);
      expect(byPorts([6443])?.to).toEqual([{ ipBlock: { cidr: '172.18.0.2/32' } }]);
      expect(byPorts([636])?.to).toEqual([{ ipBlock: { cidr: '10.0.10.14/32' } }, { ipBlock: { cidr: '10.0.10.15/32' } }]);
      expect(byPorts([443])?.to).toEqual([{ ipBlock: { cidr: '10.20.0.0/16' } }]);
      expect(spec.egress).toHaveLength(4);
    });

    it('crds.install / crds.keep; the CRD template is the generated crds/ file (one source: src/api)', async () => {
      const committed = one(await fileDocs('crds/truetask.io_adsyncs.yaml'), 'CustomResourceDefinition');
      const withCrd = one((await render()).objs, 'CustomResourceDefinition');
      expect(withCrd.metadata.name).toBe(committed.metadata.name);
      expect(withCrd.spec).toEqual(committed.spec);
      expect(withCrd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      expect(withCrd.metadata.labels).toMatchObject(committed.metadata.labels ?? {});

      const notKept = one((await render({ crds: { install: true, keep: false } })).objs, 'CustomResourceDefinition');
      expect(notKept.metadata.annotations).toBeUndefined();

      const without = await render({ crds: { install: false, keep: true } });
      expect(find(without.objs, 'CustomResourceDefinition')).toEqual([]);
      expect(find(without.objs, 'Deployment')).toHaveLength(1);
    });

    it('one replica: no PodDisruptionBudget; leader election may then be turned off', async () => {
      const { objs } = await render({ replicaCount: 1, leaderElection: { enabled: false } });
      expect(find(objs, 'PodDisruptionBudget')).toEqual([]);
      expect(find(objs, 'Role')).toEqual([]);
      expect(controllerOf(one<Deployment>(objs, 'Deployment')).args).toContain('--no-leader-elect');
    });

    it.each([
      ['replicaCount as a string', { replicaCount: '2' }, /replicaCount.*got string, want integer/],
      ['an unknown top-level key', { replicas: 2 }, /additional properties 'replicas' not allowed/],
      ['a pull policy that does not exist', { image: { pullPolicy: 'Sometimes' } }, /image\/pullPolicy/],
      ['watchNamespaces as a comma-separated string', { watchNamespaces: 'a,b' }, /watchNamespaces.*got string, want array/],
      ['a namespace name that is not one', { watchNamespaces: ['Team_A'] }, /watchNamespaces\/0/],
      ['serviceAccount.create as a string', { serviceAccount: { create: 'always' } }, /serviceAccount\/create.*want boolean/],
      ['an unknown key under metrics', { metrics: { servicemonitor: true } }, /additional properties 'servicemonitor' not allowed/],
      ['a leavers alert duration that is not one', { prometheusRule: { enabled: true, leavers: { enabled: true, for: '7 days' } } }, /prometheusRule\/leavers\/for/],
      ['a CIDR that is not one', { networkPolicy: { enabled: true, directory: { cidrs: ['dc1.corp'] }, truetask: { cidrs: ['10.0.0.0/8'] } } }, /networkPolicy\/directory\/cidrs\/0/],
    ])('the schema refuses %s', async (_what, values, message) => {
      const r = await template(values);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
      expect(r.stderr).toMatch(message);
    });

    it.each([
      ['two replicas without leader election', { leaderElection: { enabled: false } }, /leaderElection.enabled=false needs replicaCount: 1/],
      ['a NetworkPolicy without the DC addresses', { networkPolicy: { enabled: true } }, /networkPolicy.enabled needs networkPolicy.directory.cidrs/],
      ['a NetworkPolicy without Truetask', { networkPolicy: { enabled: true, directory: { cidrs: ['10.0.10.14/32'] } } }, /networkPolicy.truetask.cidrs/],
    ])('the chart refuses %s with a message that says what to fix', async (_what, values, message) => {
      const r = await template(values);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });
  });

  describe('applied to the API server (--dry-run=server, restricted Pod Security)', () => {
    it('the chart with its defaults, and with monitoring and a NetworkPolicy on', async () => {
      const ns = await restrictedNamespace('chart');
      for (const values of [
        {},
        {
          serviceMonitor: { enabled: true },
          prometheusRule: { enabled: true, leavers: { enabled: true, for: '3d' } },
          networkPolicy: { enabled: true, directory: { cidrs: ['10.0.10.14/32'] }, truetask: { cidrs: ['10.20.0.0/16'] } },
        },
      ]) {
        const { text, objs } = await render(values, ns);
        const r = await dryRunClean(text);
        for (const o of objs) expect(r.stdout).toContain(`${o.metadata.name} `);
      }
      const pod = await dryRunPodOf((await render({}, ns)).objs, ns);
      expect(pod.code, pod.stderr).toBe(0);
      expect(pod.stderr).not.toMatch(/PodSecurity/);
    });

    it('the chart watching two namespaces, with crds.install=false', async () => {
      const ns = await restrictedNamespace('chart-ns');
      const watched = [await restrictedNamespace('team-a'), await restrictedNamespace('team-b')];
      const { text, objs } = await render({ watchNamespaces: watched, crds: { install: false, keep: true } }, ns);
      expect(find(objs, 'CustomResourceDefinition')).toEqual([]);
      await dryRunClean(text);
    });

    it('a relaxed security context is refused (so the checks above can fail)', async () => {
      const ns = await restrictedNamespace('chart-bad');
      const { text, objs } = await render({ securityContext: { allowPrivilegeEscalation: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } } }, ns);
      const warned = await kubectl(['apply', '--dry-run=server', '-f', '-'], text);
      expect(warned.stderr).toMatch(/would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
      const pod = await dryRunPodOf(objs, ns);
      expect(pod.code).not.toBe(0);
      expect(pod.stderr).toMatch(/forbidden: violates PodSecurity "restricted:latest"/);
    });

    it('deploy/base (kubectl kustomize) and deploy/overlays/namespaced', async () => {
      // The namespaces the manifests use must exist for a server dry run (it persists nothing).
      const nsApply = await kubectl(['apply', '-f', join(repoRoot, 'deploy', 'base', 'namespace.yaml')]);
      expect(nsApply.code, nsApply.stderr).toBe(0);
      const watched = await kubectl(['create', 'namespace', 'truetask', '--dry-run=client', '-o', 'yaml']);
      const nsWatched = await kubectl(['apply', '-f', '-'], watched.stdout);
      expect(nsWatched.code, nsWatched.stderr).toBe(0);

      const base = await kubectl(['kustomize', join(repoRoot, 'deploy', 'base')]);
      expect(base.code, base.stderr).toBe(0);
      const baseObjs = docs(base.stdout);
      await dryRunClean(base.stdout);
      const basePod = await dryRunPodOf(baseObjs, 'truetask-adsync');
      expect(basePod.code, basePod.stderr).toBe(0);
      expect(basePod.stderr).not.toMatch(/PodSecurity/);

      const overlay = await kubectl(['kustomize', join(repoRoot, 'deploy', 'overlays', 'namespaced')]);
      expect(overlay.code, overlay.stderr).toBe(0);
      const objs = docs(overlay.stdout);
      expect(find(objs, 'ClusterRole')).toEqual([]);
      expect(find(objs, 'ClusterRoleBinding')).toEqual([]);
      const role = one(objs, 'Role', 'truetask-adsync-controller', 'truetask');
      expect(rulesOf(role)).toEqual(rulesOf(one(baseRbac, 'ClusterRole')));
      expect(one(objs, 'RoleBinding', 'truetask-adsync-controller', 'truetask').subjects).toEqual([
        { kind: 'ServiceAccount', name: 'truetask-adsync', namespace: 'truetask-adsync' },
      ]);
      expect(rulesOf(one(objs, 'Role', 'truetask-adsync-leader-election', 'truetask-adsync'))).toEqual(rulesOf(one(baseRbac, 'Role')));
      expect(controllerOf(one<Deployment>(objs, 'Deployment')).args).toEqual([...(controllerOf(baseDeployment).args ?? []), '--namespaces=truetask']);
      await dryRunClean(overlay.stdout);
    });
  });

  describe('the Dockerfile', () => {
    it('passes hadolint', async () => {
      const r = await runTool('hadolint', ['--no-color', join(repoRoot, 'Dockerfile')]);
      expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout.trim()).toBe('');
    });

    it('hadolint does fail on a bad Dockerfile (latest tag, root user, apt without pinning)', async () => {
      const bad = 'FROM node:latest\nRUN apt-get update && apt-get install -y curl\nCMD node server.js\n';
      const r = await runTool('hadolint', ['--no-color', '-'], { input: bad });
      expect(r.code).not.toBe(0);
      expect(r.stdout).toMatch(/DL3007/);
    });
  });
});
