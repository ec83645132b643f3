// The single-node cluster of scripts/cluster/up.sh for the `cluster` test layer and
// the demo: bring it up (or reuse a running one), hold it while in use, reach
// things inside its network namespace.
//
// Network: the cluster, its pods and Services live in the network namespace
// `adsync-cluster`; nothing on the host's interfaces has a private address. The
// host reaches the API server at 127.0.0.1 (a relay made by up.sh). The servers
// the pods must reach have addresses of their own in the namespace, 10.250.1.N
// (test/support/netns-address.ts): the Samba DC runs there (startSambaAD's
// `netns`, the host reaches it at 127.0.0.N through a relay out), and the
// Truetask simulator, which runs in the test process so that tests can read its
// counters, is served there by relayIntoCluster(). Traffic thus stays on
// loopback and inside the namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../tools/bin.ts';
import { takeNetnsAddress } from './netns-address.ts';
import { pipeServer } from './netns-relay.ts';
import { runCommand, type RunOptions, type RunResult } from './run-command.ts';

export const CLUSTER_NETNS = process.env.ADSYNC_CLUSTER_NETNS ?? 'adsync-cluster';
export const CLUSTER_DIR = process.env.ADSYNC_CLUSTER_DIR ?? '/var/tmp/truetask-adsync-cluster';
/** The node's address inside the namespace (scripts/cluster/env.sh). */
export const NODE_IP = '10.250.0.1';
const script = (name: string) => join(repoRoot, 'scripts', 'cluster', name);

/** Plain data about a running cluster (vitest provide/inject-able). */
export interface ClusterInfo {
  kubeconfigPath: string;
  /** kubectl (and etcd, kube-apiserver) */
  kubeBinDir: string;
  /** helm */
  toolsBinDir: string;
  netns: string;
  dir: string;
  nodeIp: string;
  /** How long cluster:up took in this run, and whether it was already up. */
  upMs: number;
  reused: boolean;
}

export interface ClusterLease extends ClusterInfo {
  /** Stops holding the cluster; with `down`, takes it down unless another run holds it. */
  release(opts?: { down?: boolean }): Promise<void>;
}

/**
 * Holds the cluster (a shared flock, so `down.sh --if-unused` of another run leaves
 * it up), then runs scripts/cluster/up.sh, which reuses a healthy cluster or
 * builds what is missing and starts one.
 */
export async function acquireCluster(opts: { log?: (line: string) => void } = {}): Promise<ClusterLease> {
  mkdirSync(join(CLUSTER_DIR, '..'), { recursive: true });
  // flock -s holds the lock as long as `cat` reads our stdin: it ends with this process.
  const holder: ChildProcess = spawn('flock', ['-s', `${CLUSTER_DIR}.users.lock`, 'cat'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const t0 = performance.now();
  const up = await runCommand('bash', [script('up.sh')], { timeoutMs: 60 * 60_000, inheritStderr: opts.log !== undefined });
  const upMs = performance.now() - t0;
  if (up.code !== 0) {
    holder.stdin?.end();
    throw new Error(`scripts/cluster/up.sh failed (exit ${up.code}):\n${up.stderr.slice(-6000)}`);
  }
  const kubeconfigPath = /^export KUBECONFIG=(.+)$/m.exec(up.stdout)?.[1] ?? '';
  const pathLine = /^export PATH=(.+):\$PATH$/m.exec(up.stdout)?.[1] ?? '';
  const [kubeBinDir = '', toolsBinDir = ''] = pathLine.split(':');
  if (!kubeconfigPath || !kubeBinDir) throw new Error(`scripts/cluster/up.sh printed no KUBECONFIG/PATH:\n${up.stdout}`);
  let released = false;
  return {
    kubeconfigPath,
    kubeBinDir,
    toolsBinDir,
    netns: CLUSTER_NETNS,
    dir: CLUSTER_DIR,
    nodeIp: NODE_IP,
    upMs,
    reused: /already up/.test(up.stderr),
    async release({ down = false } = {}) {
      if (released) return;
      released = true;
      const exited = new Promise((ok) => holder.once('exit', ok));
      holder.stdin?.end();
      await exited;
      if (down) {
        const r = await runCommand('bash', [script('down.sh'), '--if-unused'], { timeoutMs: 5 * 60_000 });
        if (r.code !== 0) throw new Error(`scripts/cluster/down.sh failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
      }
    },
  };
}

/** Runs a command inside the cluster's network namespace. */
export function inCluster(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand('nsenter', [`--net=/run/netns/${CLUSTER_NETNS}`, cmd, ...args], opts);
}

/** ctr against the cluster's containerd (namespace k8s.io). */
export function ctr(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand('ctr', ['--address', join(CLUSTER_DIR, 'containerd', 'containerd.sock'), '-n', 'k8s.io', ...args], opts);
}

export interface ClusterRelay {
  /** host:port inside the namespace (what pods connect to). */
  readonly host: string;
  readonly port: number;
  /** Connections relayed so far. */
  connections(): number;
  close(): Promise<void>;
}

let relaySeq = 0;

/**
 * Makes a server of this process (on the host's loopback) reachable from the
 * cluster's pods at an address of its own inside the namespace, 10.250.1.N:<port>
 * (default: the target's port): a socat listening there, connected through a Unix
 * socket (the filesystem is shared) to this process, which connects to the
 * loopback server. Closed by close(); a crashed run's relay is ended by
 * cluster:down (it is a process inside the namespace, and the address goes with it).
 */
export async function relayIntoCluster(target: { host: string; port: number }, opts: { port?: number } = {}): Promise<ClusterRelay> {
  const dir = join(CLUSTER_DIR, 'relays');
  mkdirSync(dir, { recursive: true });
  const sock = join(dir, `t-${process.pid}-${++relaySeq}.sock`);
  rmSync(sock, { force: true });
  const pipe = pipeServer(() => connect(target.port, target.host));
  const server = pipe.server;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(sock, () => ok());
  });
  const address = await takeNetnsAddress(CLUSTER_NETNS).catch(async (err: unknown) => {
    await new Promise<void>((ok) => server.close(() => ok()));
    throw err;
  });
  const port = opts.port ?? target.port;
  const child = spawn('nsenter', [`--net=/run/netns/${CLUSTER_NETNS}`, 'socat', `TCP-LISTEN:${port},bind=${address.ip},fork,reuseaddr`, `UNIX-CONNECT:${sock}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const close = async () => {
    process.off('exit', kill);
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    pipe.destroyAll();
    await new Promise<void>((ok) => server.close(() => ok()));
    rmSync(sock, { force: true });
    await address.release();
  };
  // Listening (or failed) within a bounded wait.
  const deadline = Date.now() + 10_000;
  let listening = false;
  while (!listening && child.exitCode === null && Date.now() < deadline) {
    const r = await inCluster('ss', ['-Hltn', `src ${address.ip}:${port}`], { timeoutMs: 10_000 });
    listening = r.code === 0 && r.stdout.includes(`${address.ip}:${port}`);
    if (!listening) await new Promise((ok) => setTimeout(ok, 50));
  }
  if (!listening) {
    await close();
    throw new Error(`relay into the cluster (${address.ip}:${port} -> ${target.host}:${target.port}) did not start: ${stderr.trim() || 'not listening within 10 s'}`);
  }
  return { host: address.ip, port, connections: pipe.accepted, close };
}
