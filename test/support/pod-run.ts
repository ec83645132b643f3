// The run options of the operator's pod, read from a rendered Deployment (deploy/base
// through `kubectl kustomize`, or the chart through `helm template`), and the podman
// command that runs the image the same way a kubelet runs that pod.
//
// One source: the image test runs exactly what podRunSpec() reads, and a test proves
// that deploy/base and the chart give the same spec. Anything in the pod or container
// spec that is not translated here is refused (with what to teach this file), so a
// new field in the manifests cannot be silently left out of the test.
//
// What a kubelet adds and a Deployment does not say (the ServiceAccount token volume,
// KUBERNETES_SERVICE_HOST/PORT, the pod's hostname) comes from the caller. The one
// deliberate difference: with `--network host` the pod's ports are the host's, so the
// metrics port becomes a free host port (in the flag that binds it, and for probes).

export interface DeploymentLike {
  metadata: { name: string; namespace?: string };
  spec: { template: { spec: Record<string, unknown> } };
}

export interface PodRunSpec {
  /** The image the Deployment names (the test runs the image built from this tree). */
  image: string;
  serviceAccountName: string;
  /** Container args (the image's ENTRYPOINT stays, as with `args:` in Kubernetes). */
  args: string[];
  /** Resolved environment (fieldRefs filled in). */
  env: Array<[string, string]>;
  user: number;
  group: number;
  supplementalGroups: number[];
  readOnlyRootFilesystem: boolean;
  noNewPrivileges: boolean;
  dropCapabilities: string[];
  seccomp: 'RuntimeDefault';
  /** emptyDir volumes, as size-limited tmpfs. */
  tmpfs: Array<{ path: string; sizeBytes: number }>;
  memoryLimitBytes?: number;
  /** Probes as host URLs' paths and the host port they reach. */
  probes: { liveness: { path: string; port: number }; readiness: { path: string; port: number } };
  metricsPort: number;
  terminationGracePeriodSeconds: number;
}

export interface PodRunInput {
  /** Namespace the pod runs in (metadata.namespace fieldRefs); default the Deployment's. */
  namespace?: string;
  /** Pod name (metadata.name fieldRefs, hostname). */
  podName: string;
  /** Host port for each container port, by port name (host network). */
  hostPorts: Record<string, number>;
}

const POD_KEYS = new Set(['serviceAccountName', 'securityContext', 'terminationGracePeriodSeconds', 'containers', 'volumes']);
// Scheduling only: no effect on how one pod runs.
const POD_SCHEDULING_KEYS = new Set(['nodeSelector', 'affinity', 'tolerations', 'topologySpreadConstraints', 'priorityClassName', 'imagePullSecrets']);
const CONTAINER_KEYS = new Set(['name', 'image', 'imagePullPolicy', 'args', 'env', 'ports', 'livenessProbe', 'readinessProbe', 'resources', 'securityContext', 'volumeMounts']);
const POD_SECURITY_KEYS = new Set(['runAsNonRoot', 'runAsUser', 'runAsGroup', 'fsGroup', 'seccompProfile']);
const CONTAINER_SECURITY_KEYS = new Set(['allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'capabilities']);

function fail(what: string): never {
  throw new Error(`pod-run: ${what} (teach test/support/pod-run.ts how a container runtime applies it)`);
}

function onlyKeys(obj: Record<string, unknown>, allowed: Set<string>, where: string, ignored = new Set<string>()): void {
  for (const key of Object.keys(obj)) if (!allowed.has(key) && !ignored.has(key)) fail(`${where}.${key} is not translated`);
}

function record(v: unknown, where: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`${where} is not an object`);
  return v as Record<string, unknown>;
}

function int(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${where} must be an integer, got ${JSON.stringify(v)}`);
  return v;
}

const UNITS: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** A Kubernetes quantity of bytes ("16Mi", "1Gi", "512M") in bytes. */
export function quantityBytes(q: unknown, where: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T|)$/.exec(String(q));
  const unit = m ? UNITS[m[2] ?? ''] : undefined;
  if (!m || unit === undefined) fail(`${where}: ${JSON.stringify(q)} is not a byte quantity`);
  return Number(m[1]) * unit;
}

/** Reads how the Deployment's `controller` container runs. */
export function podRunSpec(deployment: DeploymentLike, input: PodRunInput): PodRunSpec {
  const pod = deployment.spec.template.spec;
  onlyKeys(pod, POD_KEYS, 'pod spec', POD_SCHEDULING_KEYS);
  const containers = pod.containers as Array<Record<string, unknown>>;
  if (!Array.isArray(containers) || containers.length !== 1) fail('exactly one container expected');
  const c = record(containers[0], 'container');
  onlyKeys(c, CONTAINER_KEYS, 'container');
  const namespace = input.namespace ?? deployment.metadata.namespace ?? fail('no namespace');

  // securityContext
  const psc = record(pod.securityContext ?? {}, 'pod securityContext');
  const csc = record(c.securityContext ?? {}, 'container securityContext');
  onlyKeys(psc, POD_SECURITY_KEYS, 'pod securityContext');
  onlyKeys(csc, CONTAINER_SECURITY_KEYS, 'container securityContext');
  const user = int(psc.runAsUser, 'runAsUser');
  const group = int(psc.runAsGroup, 'runAsGroup');
  if (psc.runAsNonRoot !== true || user === 0) fail('the pod must set runAsNonRoot: true and a non-zero runAsUser');
  const seccomp = record(psc.seccompProfile, 'seccompProfile');
  if (seccomp.type !== 'RuntimeDefault' || Object.keys(seccomp).length !== 1) fail(`seccompProfile ${JSON.stringify(seccomp)}`);
  const caps = record(csc.capabilities ?? {}, 'capabilities');
  onlyKeys(caps, new Set(['drop']), 'capabilities');
  const drop = (caps.drop ?? []) as string[];

  // ports: container port by name -> host port
  const ports = (c.ports ?? []) as Array<{ name: string; containerPort: number; protocol?: string }>;
  const hostPortOf = (ref: unknown, where: string): { container: number; host: number } => {
    const p = ports.find((x) => x.name === ref || x.containerPort === ref) ?? fail(`${where}: no container port ${JSON.stringify(ref)}`);
    const host = input.hostPorts[p.name] ?? fail(`${where}: no host port given for port ${p.name}`);
    return { container: p.containerPort, host };
  };
  const metrics = hostPortOf('metrics', 'metrics port');

  // args: the flag binding the metrics port gets the host port
  const args = ((c.args ?? []) as unknown[]).map((a) => {
    const s = String(a);
    const m = /^(--metrics-bind-address=.*):(\d+)$/.exec(s);
    return m && Number(m[2]) === metrics.container ? `${m[1]}:${metrics.host}` : s;
  });

  // env
  const env = ((c.env ?? []) as Array<Record<string, unknown>>).map((e): [string, string] => {
    onlyKeys(e, new Set(['name', 'value', 'valueFrom']), `env ${String(e.name)}`);
    const name = String(e.name);
    if (e.valueFrom === undefined) return [name, String(e.value ?? '')];
    const from = record(e.valueFrom, `env ${name}.valueFrom`);
    const path = record(from.fieldRef, `env ${name}.valueFrom.fieldRef`).fieldPath;
    if (Object.keys(from).length !== 1) fail(`env ${name}.valueFrom ${JSON.stringify(from)}`);
    if (path === 'metadata.namespace') return [name, namespace];
    if (path === 'metadata.name') return [name, input.podName];
    return fail(`env ${name} from fieldPath ${String(path)}`);
  });

  // volumes: emptyDirs only
  const volumes = new Map(((pod.volumes ?? []) as Array<Record<string, unknown>>).map((v) => [String(v.name), v]));
  const tmpfs = ((c.volumeMounts ?? []) as Array<Record<string, unknown>>).map((m) => {
    onlyKeys(m, new Set(['name', 'mountPath']), `volumeMount ${String(m.name)}`);
    const v = volumes.get(String(m.name)) ?? fail(`volumeMount ${String(m.name)} has no volume`);
    onlyKeys(v, new Set(['name', 'emptyDir']), `volume ${String(m.name)}`);
    const emptyDir = record(v.emptyDir, `volume ${String(m.name)}.emptyDir`);
    onlyKeys(emptyDir, new Set(['sizeLimit']), `volume ${String(m.name)}.emptyDir`);
    return { path: String(m.mountPath), sizeBytes: quantityBytes(emptyDir.sizeLimit, `volume ${String(m.name)} sizeLimit`) };
  });

  const resources = record(c.resources ?? {}, 'resources');
  onlyKeys(resources, new Set(['requests', 'limits']), 'resources');
  const limits = record(resources.limits ?? {}, 'resources.limits');
  onlyKeys(limits, new Set(['memory']), 'resources.limits');

  const probe = (p: unknown, where: string) => {
    const get = record(record(p, where).httpGet, `${where}.httpGet`);
    return { path: String(get.path), port: hostPortOf(get.port, where).host };
  };

  return {
    image: String(c.image),
    serviceAccountName: String(pod.serviceAccountName ?? 'default'),
    args,
    env,
    user,
    group,
    supplementalGroups: psc.fsGroup === undefined ? [] : [int(psc.fsGroup, 'fsGroup')],
    readOnlyRootFilesystem: csc.readOnlyRootFilesystem === true,
    noNewPrivileges: csc.allowPrivilegeEscalation === false,
    dropCapabilities: drop,
    seccomp: 'RuntimeDefault',
    tmpfs,
    ...(limits.memory === undefined ? {} : { memoryLimitBytes: quantityBytes(limits.memory, 'resources.limits.memory') }),
    probes: { liveness: probe(c.livenessProbe, 'livenessProbe'), readiness: probe(c.readinessProbe, 'readinessProbe') },
    metricsPort: metrics.host,
    terminationGracePeriodSeconds: int(pod.terminationGracePeriodSeconds ?? 30, 'terminationGracePeriodSeconds'),
  };
}

export interface PodmanRunOptions {
  /** Image to run (the ID built from this tree). */
  image: string;
  /** Container name (for podman stop/exec). */
  name: string;
  /** The pod's hostname (a kubelet uses the pod name). */
  hostname: string;
  /** What the kubelet adds: KUBERNETES_SERVICE_HOST/PORT and the like. */
  extraEnv?: Array<[string, string]>;
  /** Read-only bind mounts, host path -> container path (the ServiceAccount volume). */
  mounts?: Array<{ source: string; target: string }>;
  /** Replaces the spec's args (e.g. a one-shot CLI command with the same security). */
  args?: string[];
}

/** `podman run` arguments that run the image as the spec's pod does (host network). */
export function podmanRunArgs(spec: PodRunSpec, o: PodmanRunOptions): string[] {
  const flags = ['run', '--rm', '--name', o.name, '--hostname', o.hostname, '--network', 'host'];
  flags.push('--user', `${spec.user}:${spec.group}`);
  for (const g of spec.supplementalGroups) flags.push('--group-add', String(g));
  // podman's --read-only also mounts tmpfs on /tmp, /var/tmp and /run unless told not to: a pod has none.
  if (spec.readOnlyRootFilesystem) flags.push('--read-only', '--read-only-tmpfs=false');
  for (const cap of spec.dropCapabilities) flags.push('--cap-drop', cap);
  if (spec.noNewPrivileges) flags.push('--security-opt', 'no-new-privileges');
  // seccomp RuntimeDefault: podman's default profile, i.e. no flag.
  for (const t of spec.tmpfs) flags.push('--mount', `type=tmpfs,destination=${t.path},tmpfs-size=${t.sizeBytes},tmpfs-mode=1777`);
  if (spec.memoryLimitBytes !== undefined) flags.push('--memory', String(spec.memoryLimitBytes));
  for (const [k, v] of [...spec.env, ...(o.extraEnv ?? [])]) flags.push('--env', `${k}=${v}`);
  for (const m of o.mounts ?? []) flags.push('--volume', `${m.source}:${m.target}:ro`);
  return [...flags, o.image, ...(o.args ?? spec.args)];
}
