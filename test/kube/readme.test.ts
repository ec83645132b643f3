// Every `kubectl`, `helm` and `adsync` command of the README's "Install" and "Use it" sections,
// read from README.md itself (so this test breaks when the README changes), run as
// written with bash against a real kube-apiserver of its own (these commands use
// fixed names such as the namespace truetask). Nothing is skipped. Where the test
// departs from the README, it says so in PLAN:
//  - the placeholders '...' of the Secrets are the test AD's bind password and the
//    simulator's token (passed through the environment, never on a command line);
//    corp-root-ca.pem is the test AD's CA; my-adsync.yaml is the AdSync of
//    examples/adsync.yaml pointed at the test AD and the Truetask simulator;
//  - there are no nodes, so the Deployment never runs a pod: the operator runs in
//    this process in its place (same code: startController), from the moment it is
//    installed;
//  - helm install, an alternative to the kustomize install, runs first, for real,
//    and is uninstalled before the kustomize install (the two would own the same
//    objects);
//  - the namespaced overlay, also an alternative, needs the namespace truetask, so it
//    runs right after `kubectl create namespace truetask`;
//  - `adsync` is this repository's CLI (node src/cli/main.ts) on PATH; `adsync approve`
//    runs with --yes (no terminal to answer its question).
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { kubeConfigFor, startApiServer, type ApiServer } from '../support/kube-apiserver.ts';
import { waitFor } from '../support/kube-wait.ts';
import { TOKEN, TOKEN_NAME } from '../support/scenario.ts';
import { repoRoot, runCommand, toolsBinDir, type RunResult } from '../tools/bin.ts';

/** The commands of the README's "## Install" and "## Use it" sections (up to the next heading after them): code-block lines and inline `kubectl ...` / `helm ...`. */
function readmeCommands(markdown: string): string[] {
  const start = markdown.indexOf('\n## Install\n');
  const use = markdown.indexOf('\n## Use it\n', start);
  if (start < 0 || use < 0) throw new Error('README.md has no "## Install" followed by "## Use it"');
  const nextHeading = /\n#{2,3} /g;
  nextHeading.lastIndex = use + 1;
  const end = nextHeading.exec(markdown)?.index ?? markdown.length;
  const section = markdown.slice(start, end);
  const commands: string[] = [];
  let inCode = false;
  for (const line of section.split('\n')) {
    if (line.startsWith('```')) {
      inCode = !inCode;
      continue;
    }
    if (inCode) {
      const command = line.replace(/\s+#\s.*$/, '').trim();
      if (command !== '' && !command.startsWith('#')) commands.push(command);
    } else {
      for (const m of line.matchAll(/`((?:kubectl|helm|adsync) [^`]+)`/g)) commands.push((m[1] as string).trim());
    }
  }
  return commands;
}

type Check = (r: RunResult) => void | Promise<void>;
interface Step {
  /** Why the test runs it differently from the README, if it does. */
  note?: string;
  /** Rewrites the command (placeholders); the README's text is what the report names. */
  command?: (readme: string) => string;
  check: Check;
}

const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('the README install and use commands, as written', () => {
  const ad = inject('ad');
  let api: ApiServer;
  let sim: TruetaskSimulator;
  let controller: RunningController | undefined;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let custom: CustomObjectsApi;

  beforeAll(async () => {
    api = await startApiServer();
    custom = kubeConfigFor(api).makeApiClient(CustomObjectsApi);
    sim = await startTruetaskSimulator({
      tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }],
      users: [
        { email: 'owner@corp.example.com', name: 'The Owner', role: 'owner' },
        { email: 'old.hire@corp.example.com', name: 'Old Hire', role: 'user' }, // AD has no such account: a leaver
      ],
    });
    work = await mkdtemp(join(tmpdir(), 'readme-test-'));
    // The README's paths are relative to the repository; its files (the CA, my-adsync.yaml) to where you are.
    for (const dir of ['deploy', 'charts', 'crds', 'examples']) await symlink(join(repoRoot, dir), join(work, dir));
    await writeFile(join(work, 'corp-root-ca.pem'), ad.caPem);
    const example = parseAllDocuments(await readFile(join(repoRoot, 'examples', 'adsync.yaml'), 'utf8'))
      .map((d) => d.toJS() as { kind: string; spec: Record<string, Record<string, unknown>> })
      .find((d) => d.kind === 'AdSync');
    if (!example) throw new Error('examples/adsync.yaml has no AdSync');
    example.spec.ldap = { ...example.spec.ldap, url: ad.ldapsUrl, tls: { ...(example.spec.ldap?.tls as object), serverName: ad.dcHostname } };
    example.spec.truetask = { ...example.spec.truetask, url: sim.url, insecurePlaintext: true };
    await writeFile(join(work, 'my-adsync.yaml'), stringify(example));
    // The CLI as `adsync`, as the image or an npm install provides it.
    await mkdir(join(work, 'bin'));
    await writeFile(join(work, 'bin', 'adsync'), `#!/bin/sh\nexec '${process.execPath}' '${join(repoRoot, 'src', 'cli', 'main.ts')}' "$@"\n`, { mode: 0o755 });
    env = {
      PATH: `${join(work, 'bin')}:${api.binDir}:${await toolsBinDir()}:${process.env.PATH ?? ''}`,
      HOME: work,
      KUBECONFIG: api.kubeconfigPath,
      AD_BIND_PASSWORD: ad.bindPassword,
      TRUETASK_TOKEN: TOKEN,
    };
  });

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    await api?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const sh = (command: string): Promise<RunResult> => runCommand('bash', ['-c', command], { env, cwd: work, timeoutMs: 120_000 });
  const ok: Check = (r) => {
    expect(r.code, r.stderr).toBe(0);
  };
  const get = async () =>
    (await custom.getNamespacedCustomObject({ group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs', namespace: 'truetask', name: 'corp' })) as {
      metadata: { annotations?: Record<string, string> };
      spec: { mode: string; suspend?: boolean };
      status?: {
        preview?: { toCreate: number };
        pendingApproval?: { digest: string; toCreate: number };
        lastApproved?: { digest: string; created: number };
        lastHandledSyncNow?: string;
        nextSyncAt?: string;
        conditions?: Array<{ type: string; status: string; reason?: string }>;
      };
    };
  const startOperator = async () => {
    controller = await startController({
      kubeConfig: kubeConfigFor(api),
      logger: quiet,
      metricsHost: '127.0.0.1',
      metricsPort: 0,
      leaderElect: false,
      leaseNamespace: 'truetask-adsync',
      leaseName: 'truetask-adsync-leader',
      concurrency: 1,
      writeConcurrency: 4,
      processMetrics: false,
    });
  };

  // How each README command is run and what shows that it worked. A README command
  // missing here, or a command here no longer in the README, fails the test.
  const PLAN: Record<string, Step> = {
    'helm install truetask-adsync charts/truetask-adsync -n truetask-adsync --create-namespace': {
      note: 'an alternative to the kustomize install: run first, then uninstalled (helm uninstall keeps the CRD)',
      check: async (r) => {
        ok(r);
        expect(r.stdout).toMatch(/STATUS: deployed/);
        const down = await sh('helm uninstall truetask-adsync -n truetask-adsync');
        expect(down.code, down.stderr).toBe(0);
      },
    },
    'kubectl apply -k deploy/base': {
      check: async (r) => {
        ok(r);
        expect(r.stdout).toMatch(/customresourcedefinition.apiextensions.k8s.io\/adsyncs.truetask.io (created|configured|unchanged)/);
        expect(r.stdout).toMatch(/deployment.apps\/truetask-adsync created/);
        const established = await sh('kubectl wait --for=condition=Established crd/adsyncs.truetask.io --timeout=60s');
        expect(established.code, established.stderr).toBe(0);
        // There are no nodes to run the Deployment's pods: the operator runs in this process instead.
        await startOperator();
      },
    },
    'kubectl apply -k deploy/overlays/namespaced': {
      note: 'needs the namespace truetask: run right after `kubectl create namespace truetask`',
      check: (r) => {
        ok(r);
        expect(r.stdout).toMatch(/role.rbac.authorization.k8s.io\/truetask-adsync-controller created/);
        expect(r.stdout).toMatch(/deployment.apps\/truetask-adsync configured/);
      },
    },
    'kubectl apply -f crds/': {
      check: (r) => {
        ok(r);
        expect(r.stdout.trim()).toMatch(/^customresourcedefinition.apiextensions.k8s.io\/adsyncs.truetask.io (unchanged|configured)$/);
      },
    },
    'kubectl create namespace truetask': { check: ok },
    "kubectl -n truetask create secret generic ad-bind --from-literal=password='...'": {
      note: "'...' is the test AD's bind password (from the environment)",
      command: (c) => c.replace("'...'", '"$AD_BIND_PASSWORD"'),
      check: ok,
    },
    'kubectl -n truetask create secret generic ad-ca --from-file=ca.crt=corp-root-ca.pem': { note: "corp-root-ca.pem is the test AD's CA", check: ok },
    "kubectl -n truetask create secret generic truetask-api --from-literal=token='...'": {
      note: "'...' is the simulator's token (from the environment)",
      command: (c) => c.replace("'...'", '"$TRUETASK_TOKEN"'),
      check: ok,
    },
    'kubectl apply -f my-adsync.yaml': {
      note: 'my-adsync.yaml is the AdSync of examples/adsync.yaml, pointed at the test AD and the simulator',
      check: async (r) => {
        ok(r);
        expect(r.stdout.trim()).toBe('adsync.truetask.io/corp created');
        // What a person does next: wait for the operator's first preview.
        await waitFor('the first preview', async () => (await get()).status?.preview !== undefined, { timeoutMs: 60_000, intervalMs: 200 });
      },
    },
    'kubectl get adsyncs -A': {
      check: async (r) => {
        ok(r);
        const [header, row] = r.stdout.trim().split('\n');
        // The README's comment names the columns.
        const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
        const documented = /kubectl get adsyncs -A\s+#\s*(.+)$/m.exec(readme)?.[1]?.trim().split(/\s{2,}/) ?? [];
        expect(header?.trim().split(/\s{2,}/)).toEqual(['NAMESPACE', ...documented]);
        expect(row).toMatch(/^truetask\s+corp\s+Preview\s+True\s+\d+\s+\d+\s+/);
      },
    },
    'kubectl describe adsync corp -n truetask': {
      check: (r) => {
        ok(r);
        expect(r.stdout).toMatch(/Conditions:/);
        expect(r.stdout).toMatch(/Reason:\s+PreviewMode/);
        expect(r.stdout).toMatch(/Normal\s+PreviewReady/);
      },
    },
    "kubectl get adsync corp -n truetask -o jsonpath='{.status.preview}'": {
      check: (r) => {
        ok(r);
        const preview = JSON.parse(r.stdout) as { toCreate: number; users: Array<{ email: string; role: string }> };
        expect(preview.toCreate).toBeGreaterThan(100);
        expect(preview.users.some((u) => u.role === 'admin')).toBe(true);
      },
    },
    "kubectl get adsync corp -n truetask -o jsonpath='{.status.leavers}'": {
      check: (r) => {
        ok(r);
        const leavers = JSON.parse(r.stdout) as { disabled: number; notInDirectory: number; users: Array<{ email: string; reason: string }>; stale: boolean };
        expect(leavers).toMatchObject({ notInDirectory: 1, stale: false });
        expect(leavers.users).toContainEqual(expect.objectContaining({ email: 'old.hire@corp.example.com', reason: 'NotInDirectory' }));
        expect(leavers.users.some((u) => u.email === 'owner@corp.example.com')).toBe(false);
      },
    },
    'adsync preview truetask/corp': {
      check: async (r) => {
        ok(r);
        const toCreate = (await get()).status!.preview!.toCreate;
        expect(r.stdout).toMatch(new RegExp(`Plan:\\s+${toCreate} to create`));
        expect(r.stdout).toMatch(/Digest:\s+[0-9a-f]{16}/);
        expect(r.stdout.split('\n').filter((l) => /^create\s/.test(l)).length).toBeGreaterThanOrEqual(toCreate); // every one (a row per entry), not the first 100
      },
    },
    'kubectl wait --for=condition=Stalled adsync/corp -n truetask': {
      check: async (r) => {
        ok(r);
        const o = await get();
        expect(o.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ApprovalRequired' });
        expect(o.status?.pendingApproval?.toCreate).toBeGreaterThan(100);
        expect(sim.users()).toHaveLength(2); // nothing written
      },
    },
    "kubectl get adsync corp -n truetask -o jsonpath='{.status.pendingApproval}'": {
      check: (r) => {
        ok(r);
        const p = JSON.parse(r.stdout) as { digest: string; toCreate: number; users: unknown[] };
        expect(p.digest).toMatch(/^[0-9a-f]{16}$/);
        expect(p.users).toHaveLength(100);
      },
    },
    'adsync approve truetask/corp': {
      note: 'with --yes: no terminal to answer its question',
      command: (c) => `${c} --yes`,
      check: async (r) => {
        ok(r);
        const digest = (await get()).status?.pendingApproval?.digest ?? '';
        expect(r.stdout).toContain(`Approved plan ${digest}`);
      },
    },
    'kubectl patch adsync corp -n truetask --type=merge -p \'{"spec":{"mode":"Sync"}}\'': {
      check: async (r) => {
        ok(r);
        expect((await get()).spec.mode).toBe('Sync');
      },
    },
    'kubectl wait --for=condition=Synced adsync/corp -n truetask': {
      check: async (r) => {
        ok(r);
        expect(r.stdout.trim()).toBe('adsync.truetask.io/corp condition met');
        expect(sim.users().length).toBeGreaterThan(100);
        expect((await get()).status?.lastApproved?.created).toBe(sim.users().length - 2);
      },
    },
    'kubectl annotate adsync corp -n truetask truetask.io/sync-now="$(date +%s)" --overwrite': {
      check: async (r) => {
        ok(r);
        const value = (await get()).metadata.annotations?.['truetask.io/sync-now'];
        expect(value).toMatch(/^\d+$/);
        await waitFor('the sync-now to be handled', async () => (await get()).status?.lastHandledSyncNow === value, { timeoutMs: 60_000, intervalMs: 200 });
      },
    },
    'kubectl patch adsync corp -n truetask --type=merge -p \'{"spec":{"suspend":true}}\'': {
      check: async (r) => {
        ok(r);
        await waitFor('no next run while suspended', async () => {
          const o = await get();
          return o.spec.suspend === true && o.status?.nextSyncAt === undefined;
        });
      },
    },
  };

  /** The test's order: the README's, except the two alternatives noted in PLAN. */
  function order(commands: string[]): string[] {
    const helm = commands.filter((c) => c.startsWith('helm install'));
    const overlay = 'kubectl apply -k deploy/overlays/namespaced';
    const rest = commands.filter((c) => !c.startsWith('helm install') && c !== overlay);
    const i = rest.indexOf('kubectl create namespace truetask');
    return [...helm, ...rest.slice(0, i + 1), ...(commands.includes(overlay) ? [overlay] : []), ...rest.slice(i + 1)];
  }

  it('runs every kubectl, helm and adsync command of "Install" and "Use it" successfully', async () => {
    const commands = readmeCommands(await readFile(join(repoRoot, 'README.md'), 'utf8'));
    expect(commands.length).toBeGreaterThan(10);
    expect(commands.filter((c) => !(c in PLAN)), 'README commands this test does not know how to check: add them to PLAN').toEqual([]);
    expect(Object.keys(PLAN).filter((c) => !commands.includes(c)), 'commands in PLAN that are no longer in the README').toEqual([]);
    for (const readme of order(commands)) {
      const step = PLAN[readme] as Step;
      const r = await sh(step.command ? step.command(readme) : readme);
      try {
        await step.check(r);
      } catch (err) {
        throw new Error(`README command failed: ${readme}${step.note ? ` (${step.note})` : ''}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`, { cause: err });
      }
    }
  });
});
