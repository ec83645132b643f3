// test/support/pod-run.ts reads how a Deployment runs its container, for the image
// test (test/kube/image.test.ts). What it cannot translate to podman it must refuse,
// or the image test would quietly run something other than what users install.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { podmanRunArgs, podRunSpec, quantityBytes, type DeploymentLike } from '../support/pod-run.ts';

const base = parse(readFileSync(new URL('../../deploy/base/deployment.yaml', import.meta.url), 'utf8')) as DeploymentLike;
const input = { podName: 'truetask-adsync-abc12-x1', hostPorts: { metrics: 40123 } };
const clone = (): DeploymentLike & { spec: { template: { spec: { containers: Array<Record<string, unknown>>; securityContext: Record<string, unknown> } } } } =>
  structuredClone(base) as never;

describe('pod-run: a Deployment as a podman run', () => {
  it('deploy/base: the restricted user and security options, /tmp, the memory limit, args and env, the metrics port on the host', () => {
    const spec = podRunSpec(base, input);
    const args = podmanRunArgs(spec, { image: 'sha256:abc', name: 'c1', hostname: input.podName, extraEnv: [['KUBERNETES_SERVICE_PORT', '6443']] });
    expect(args.join(' ')).toBe(
      [
        'run --rm --name c1 --hostname truetask-adsync-abc12-x1 --network host --user 65532:65532 --group-add 65532',
        '--read-only --read-only-tmpfs=false --cap-drop ALL --security-opt no-new-privileges',
        '--mount type=tmpfs,destination=/tmp,tmpfs-size=16777216,tmpfs-mode=1777 --memory 1073741824',
        '--env POD_NAMESPACE=truetask-adsync --env LOG_LEVEL=info --env KUBERNETES_SERVICE_PORT=6443',
        'sha256:abc controller --metrics-bind-address=0.0.0.0:40123 --leader-election-id=truetask-adsync-leader',
      ].join(' '),
    );
    expect(spec.probes).toEqual({ liveness: { path: '/healthz', port: 40123 }, readiness: { path: '/readyz', port: 40123 } });
  });

  it.each([
    ['a command override', (d: ReturnType<typeof clone>) => (d.spec.template.spec.containers[0]!.command = ['sh']), /container.command is not translated/],
    ['a privileged container', (d: ReturnType<typeof clone>) => ((d.spec.template.spec.containers[0]!.securityContext as Record<string, unknown>).privileged = true), /container securityContext.privileged/],
    ['root', (d: ReturnType<typeof clone>) => (d.spec.template.spec.securityContext.runAsUser = 0), /runAsNonRoot: true and a non-zero runAsUser/],
    ['an Unconfined seccomp profile', (d: ReturnType<typeof clone>) => (d.spec.template.spec.securityContext.seccompProfile = { type: 'Unconfined' }), /seccompProfile/],
    ['env from a Secret', (d: ReturnType<typeof clone>) => (d.spec.template.spec.containers[0]!.env = [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]), /env X.valueFrom.fieldRef is not an object/],
    ['a CPU limit', (d: ReturnType<typeof clone>) => (d.spec.template.spec.containers[0]!.resources = { limits: { cpu: '1' } }), /resources.limits.cpu is not translated/],
  ])('refuses %s, saying what to teach it', (_what, change, message) => {
    const d = clone();
    change(d);
    expect(() => podRunSpec(d, input)).toThrow(message);
    expect(() => podRunSpec(d, input)).toThrow(/teach test\/support\/pod-run.ts/);
  });

  it('byte quantities', () => {
    expect([quantityBytes('16Mi', 'x'), quantityBytes('1Gi', 'x'), quantityBytes('512M', 'x'), quantityBytes('100', 'x')]).toEqual([16 * 2 ** 20, 2 ** 30, 512e6, 100]);
    expect(() => quantityBytes('1.5Gi', 'limit')).toThrow(/limit: "1.5Gi" is not a byte quantity/);
  });
});
