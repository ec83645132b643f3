// Connections as a pod makes them: commands run in a pod's own network namespace
// (entered through the PID of one of its containers, as root), and throwaway TCP
// listeners in a pod or in the cluster's namespace, for the NetworkPolicy tests.
// Every address involved lives inside the cluster's network namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import type { V1Pod } from '@kubernetes/client-node';
import { CLUSTER_NETNS, ctr, inCluster } from './cluster.ts';
import { waitFor } from './kube-wait.ts';
import { runCommand } from './run-command.ts';

/** The host PID of the pod's first container (its network namespace is the pod's). */
export async function podPid(pod: V1Pod): Promise<number> {
  const id = (pod.status?.containerStatuses?.[0]?.containerID ?? '').replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`pod ${pod.metadata?.name} has no container yet`);
  const r = await ctr(['tasks', 'ls'], { timeoutMs: 30_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${id} `));
  const pid = Number(line?.trim().split(/\s+/)[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no running task for container ${id} of pod ${pod.metadata?.name}:\n${r.stdout}`);
  return pid;
}

/** Where a connection starts: a pod's network namespace (by a PID in it). */
export type NetSource = { pid: number };

function nsArgs(src: NetSource | 'cluster'): string[] {
  return src === 'cluster' ? [`--net=/run/netns/${CLUSTER_NETNS}`] : [`--net=/proc/${src.pid}/ns/net`];
}

/**
 * Whether a TCP connection from `src` to host:port is accepted within 2 s
 * (false when refused, rejected by a firewall rule, or dropped until the timeout).
 */
export async function connects(src: NetSource, host: string, port: number): Promise<boolean> {
  const r = await runCommand('nsenter', [...nsArgs(src), 'socat', '-u', 'OPEN:/dev/null', `TCP:${host}:${port},connect-timeout=2`], { timeoutMs: 15_000 });
  return r.code === 0;
}

/** An HTTP GET from `src` (curl in its network namespace): the status code, 0 when no answer. */
export async function httpStatus(src: NetSource, url: string): Promise<number> {
  const r = await runCommand('nsenter', [...nsArgs(src), 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', url], { timeoutMs: 15_000 });
  return Number(r.stdout.trim()) || 0;
}

export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A TCP listener on port (all addresses, or `bind`) in a pod's network namespace or
 * in the cluster's: accepts and closes each connection. Ends with close(), or by
 * itself after 15 minutes should the test run die first.
 */
export async function listenIn(where: NetSource | 'cluster', port: number, bind?: string): Promise<Listener> {
  const child: ChildProcess = spawn('nsenter', [...nsArgs(where), 'timeout', '900', 'socat', `TCP-LISTEN:${port},fork,reuseaddr${bind ? `,bind=${bind}` : ''}`, 'EXEC:/bin/true'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const ss = (args: string[]) => (where === 'cluster' ? inCluster('ss', args) : runCommand('nsenter', [...nsArgs(where), 'ss', ...args]));
  await waitFor(
    `a listener on port ${port}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`listener on port ${port} exited: ${stderr.trim()}`);
      const r = await ss(['-Hltn', `sport = :${port}`]);
      return r.stdout.includes(`:${port}`);
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  return {
    port,
    async close() {
      process.off('exit', kill);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
