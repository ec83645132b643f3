// A real Kubernetes API server for tests and the demo: etcd + kube-apiserver,
// no nodes, no controller-manager (like controller-runtime's envtest).
//
// Binaries come from scripts/envtest/build.sh (built once per version into
// ~/.cache/truetask-adsync/envtest/<k8s>-<etcd>/bin), or from ENVTEST_BIN_DIR.
// Everything else (certificates, keys, kubeconfig, etcd data, logs) lives in a
// temp dir that stop() deletes.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { runCommand } from './run-command.ts';

export interface StartApiServerOptions {
  /** Directory holding kube-apiserver, etcd and kubectl. Default: $ENVTEST_BIN_DIR, else build/find via scripts/envtest/build.sh. */
  binDir?: string;
  /** Bound on the whole start-up (etcd + apiserver until /readyz is ok). Default 90 s. */
  startTimeoutMs?: number;
  /** Extra kube-apiserver flags (appended, so they win over the defaults). */
  apiServerArgs?: string[];
  /** Extra etcd flags. */
  etcdArgs?: string[];
  /** Where the temp dir is created. Default os.tmpdir(). */
  tmpRoot?: string;
  /**
   * An audit policy (YAML of an audit.k8s.io/v1 Policy): the API server then writes
   * its audit log, one JSON event a line, to `auditLogPath`.
   */
  auditPolicy?: string;
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. for `apply -f -`). */
  input?: string;
  /** Bound on the kubectl run. Default 60 s. */
  timeoutMs?: number;
}

export interface ApiServer {
  /** Admin kubeconfig (client cert with O=system:masters, may impersonate). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Directory of kube-apiserver, kubectl and etcd. */
  binDir: string;
  /** Temp dir with certs, kubeconfig, etcd data and the logs (etcd.log, kube-apiserver.log). */
  dir: string;
  etcdUrl: string;
  /** The audit log (JSON lines), when started with an auditPolicy. */
  auditLogPath?: string;
  /** Runs the built kubectl against this server (admin kubeconfig). Never rejects on a non-zero exit. */
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Kills both processes (process groups), waits for them to exit and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildScript = join(repoRoot, 'scripts', 'envtest', 'build.sh');
const BINARIES = ['kube-apiserver', 'etcd', 'kubectl'] as const;

// ---------------------------------------------------------------------------
// binaries

let binDirPromise: Promise<string> | undefined;

/** Builds the binaries if needed (once per machine and version) and returns their directory. */
export function ensureBinaries(): Promise<string> {
  const fromEnv = process.env.ENVTEST_BIN_DIR;
  if (fromEnv) {
    const missing = BINARIES.filter((b) => !existsSync(join(fromEnv, b)));
    if (missing.length > 0) return Promise.reject(new Error(`ENVTEST_BIN_DIR=${fromEnv} lacks ${missing.join(', ')}`));
    return Promise.resolve(fromEnv);
  }
  binDirPromise ??= runBuildScript().catch((err: unknown) => {
    binDirPromise = undefined;
    throw err;
  });
  return binDirPromise;
}

function runBuildScript(): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    // stderr is inherited so the (first, slow) build shows its progress.
    const child = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out.trim().split('\n');
      const dir = lines[lines.length - 1]?.trim() ?? '';
      if (code !== 0 || !dir) {
        reject(new Error(`${buildScript} failed (exit ${code}); output:\n${out}`));
        return;
      }
      resolvePromise(dir);
    });
  });
}

// ---------------------------------------------------------------------------
// ports, processes, logs

/** Distinct free loopback ports (all held open together, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      return new Promise<ReturnType<typeof createServer>>((ok, fail) => {
        const srv = createServer();
        srv.once('error', fail);
        srv.listen(0, '127.0.0.1', () => ok(srv));
      });
    }),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  return ports;
}

interface Proc {
  name: string;
  child: ChildProcess;
  logPath: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

function startProcess(name: string, bin: string, args: string[], logPath: string): Proc {
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // detached: own process group, so stop() can signal the whole group.
    child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const proc: Proc = {
    name,
    child,
    logPath,
    exit: undefined,
    exited: new Promise((ok) => {
      child.once('exit', (code, signal) => {
        proc.exit = { code, signal };
        ok({ code, signal });
      });
      child.once('error', (err) => {
        proc.exit = { code: -1, signal: null };
        void writeFile(logPath, `\nspawn error: ${err.message}\n`, { flag: 'a' });
        ok({ code: -1, signal: null });
      });
    }),
  };
  return proc;
}

function killGroup(proc: Proc, signal: NodeJS.Signals): void {
  if (proc.exit !== undefined || proc.child.pid === undefined) return;
  try {
    process.kill(-proc.child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopProcess(proc: Proc, graceMs: number): Promise<void> {
  if (proc.exit !== undefined) return;
  killGroup(proc, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    proc.exited.then(() => false),
    new Promise<boolean>((ok) => (timer = setTimeout(() => ok(true), graceMs))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    killGroup(proc, 'SIGKILL');
    await proc.exited;
  }
}

export async function logTail(path: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// Safety net: if the test process exits without stop(), kill children and remove temp dirs.
const live = new Set<{ procs: Proc[]; dir: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const entry of live) {
      for (const p of entry.procs) killGroup(p, 'SIGKILL');
      try {
        rmSync(entry.dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

// ---------------------------------------------------------------------------
// certificates and keys

function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<KubectlResult> {
  return runCommand(cmd, args, { timeoutMs: 60_000, ...opts });
}

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
}

interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

async function makePki(dir: string): Promise<Pki> {
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const serial = () => ['-set_serial', `0x${randomBytes(8).toString('hex')}`];

  await openssl([
    'req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=truetask-adsync-envtest-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);

  const leaf = async (name: string, subj: string, ext: string) => {
    await writeFile(p(`${name}.ext`), ext);
    await openssl(['req', '-new', ...ec, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', subj]);
    await openssl([
      'x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), ...serial(),
      '-days', '2', '-out', p(`${name}.crt`), '-extfile', p(`${name}.ext`),
    ]);
  };
  await Promise.all([
    leaf(
      'serving',
      '/CN=kube-apiserver',
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1',
        '',
      ].join('\n'),
    ),
    leaf(
      'admin',
      '/O=system:masters/CN=envtest-admin',
      ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth', ''].join('\n'),
    ),
  ]);

  // Service-account token signing keys (ES256).
  const sa = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'sec1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  await writeFile(p('sa.key'), sa.privateKey, { mode: 0o600 });
  await writeFile(p('sa.pub'), sa.publicKey);

  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    servingCert: p('serving.crt'),
    servingKey: p('serving.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
  };
}

async function writeKubeconfig(path: string, server: string, pki: Pki): Promise<void> {
  const b64 = async (f: string) => (await readFile(f)).toString('base64');
  const [ca, cert, key] = await Promise.all([b64(pki.caCert), b64(pki.adminCert), b64(pki.adminKey)]);
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: envtest',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    '- name: envtest-admin',
    '  user:',
    `    client-certificate-data: ${cert}`,
    `    client-key-data: ${key}`,
    'contexts:',
    '- name: envtest',
    '  context:',
    '    cluster: envtest',
    '    user: envtest-admin',
    'current-context: envtest',
    '',
  ].join('\n');
  await writeFile(path, yaml, { mode: 0o600 });
}

// ---------------------------------------------------------------------------
// readiness

function probe(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = (tls ? httpsRequest : httpRequest)(url, { method: 'GET', timeout: 2_000, ...(tls ?? {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error('probe timeout')));
    req.on('error', fail);
    req.end();
  });
}

/** Polls until `check` returns true; fails at the deadline or when one of `procs` exits. */
async function waitUntil(what: string, deadline: number, procs: Proc[], check: () => Promise<boolean>): Promise<void> {
  let last = '';
  for (;;) {
    const dead = procs.find((p) => p.exit !== undefined);
    if (dead) throw new Error(`${dead.name} exited (code ${dead.exit?.code}, signal ${dead.exit?.signal}) while waiting for ${what}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await new Promise((ok) => setTimeout(ok, 100)); // poll interval
  }
}

// ---------------------------------------------------------------------------

export async function startApiServer(opts: StartApiServerOptions = {}): Promise<ApiServer> {
  const binDir = opts.binDir ?? (await ensureBinaries());
  const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
  const dir = await mkdtemp(join(opts.tmpRoot ?? tmpdir(), 'adsync-kube-'));
  const entry = { procs: [] as Proc[], dir };
  live.add(entry);
  installExitHook();

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // apiserver first (it would otherwise log etcd connection errors), then etcd.
      for (const p of [...entry.procs].reverse()) await stopProcess(p, 10_000);
      await rm(dir, { recursive: true, force: true });
      live.delete(entry);
    })();
    return stopped;
  };

  try {
    const [etcdPort, etcdPeerPort, apiPort] = (await freePorts(3)) as [number, number, number];
    const pki = await makePki(dir);
    const server = `https://127.0.0.1:${apiPort}`;
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfigPath, server, pki);
    const auditLogPath = opts.auditPolicy === undefined ? undefined : join(dir, 'audit.log');
    const auditArgs: string[] = [];
    if (opts.auditPolicy !== undefined && auditLogPath) {
      const policyPath = join(dir, 'audit-policy.yaml');
      await writeFile(policyPath, opts.auditPolicy);
      // Blocking: an event is in the file before its request is answered, so a test reads every event it caused.
      auditArgs.push(`--audit-policy-file=${policyPath}`, `--audit-log-path=${auditLogPath}`, '--audit-log-format=json', '--audit-log-mode=blocking', '--audit-log-maxbackup=0');
    }

    const etcd = startProcess(
      'etcd',
      join(binDir, 'etcd'),
      [
        '--name=envtest',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=envtest=http://127.0.0.1:${etcdPeerPort}`,
        '--unsafe-no-fsync=true', // test data: durability not needed, much faster
        '--log-level=warn',
        ...(opts.etcdArgs ?? []),
      ],
      join(dir, 'etcd.log'),
    );
    entry.procs.push(etcd);
    await waitUntil('etcd /health', deadline, [etcd], async () => {
      const r = await probe(`${etcdUrl}/health`, undefined);
      return r.status === 200 && r.body.includes('"health":"true"');
    });

    const apiserver = startProcess(
      'kube-apiserver',
      join(binDir, 'kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.caCert}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--profiling=false',
        // The apiserver would try to publish 127.0.0.1 as the `kubernetes` Service
        // endpoint, which is invalid (loopback), and log that every 10 s.
        '--endpoint-reconciler-type=none',
        '--v=1',
        ...auditArgs,
        ...(opts.apiServerArgs ?? []),
      ],
      join(dir, 'kube-apiserver.log'),
    );
    entry.procs.push(apiserver);

    const tls = {
      ca: await readFile(pki.caCert),
      cert: await readFile(pki.adminCert),
      key: await readFile(pki.adminKey),
    };
    await waitUntil('kube-apiserver /readyz', deadline, [etcd, apiserver], async () => {
      const r = await probe(`${server}/readyz`, tls);
      return r.status === 200 && r.body.trim() === 'ok';
    });

    const kubectl = (args: string[], kopts: KubectlOptions = {}): Promise<KubectlResult> =>
      run(join(binDir, 'kubectl'), [`--kubeconfig=${kubeconfigPath}`, ...args], {
        ...kopts,
        env: { ...process.env, KUBECONFIG: kubeconfigPath },
      });

    return { kubeconfigPath, server, binDir, dir, etcdUrl, ...(auditLogPath ? { auditLogPath } : {}), kubectl, stop };
  } catch (err) {
    const tails = await Promise.all(
      entry.procs.map(async (p) => `--- ${p.name} log, last lines ---\n${await logTail(p.logPath)}`),
    );
    await stop();
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`startApiServer failed: ${msg}\n${tails.join('\n')}`, { cause: err });
  }
}

/**
 * A client-node KubeConfig for the server (admin identity). With `impersonate`
 * (e.g. 'system:serviceaccount:ns:name'), every request carries
 * `Impersonate-User`, so it is authorized as that user.
 */
export function kubeConfigFor(apiServer: Pick<ApiServer, 'kubeconfigPath'> | string, opts: { impersonate?: string } = {}): KubeConfig {
  const path = typeof apiServer === 'string' ? apiServer : apiServer.kubeconfigPath;
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  if (opts.impersonate !== undefined) {
    const current = kc.getCurrentUser();
    if (!current) throw new Error(`kubeconfig ${path} has no current user`);
    const user = { ...current, impersonateUser: opts.impersonate };
    kc.loadFromOptions({
      clusters: kc.getClusters(),
      users: kc.getUsers().map((u) => (u.name === current.name ? user : u)),
      contexts: kc.getContexts(),
      currentContext: kc.getCurrentContext(),
    });
  }
  return kc;
}
