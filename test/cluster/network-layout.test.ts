// Where things live: the cluster, its pods and the servers they reach are inside
// the cluster's network namespace; the host's own interfaces carry no private
// address, and reach the cluster only through 127.0.0.x.
import { networkInterfaces } from 'node:os';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { admin, tenant, type Tenant } from '../support/cluster-operator.ts';
import { inCluster } from '../support/cluster.ts';
import { runCommand } from '../support/run-command.ts';

const PRIVATE = /^(10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.)/;

/** The process listening on ip:port inside the cluster's namespace, from `ss -p`. */
async function listenerInCluster(ip: string, port: number): Promise<{ name: string; pid: number } | undefined> {
  const r = await inCluster('ss', ['-Hltnp', `src ${ip}:${port}`]);
  const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(r.stdout);
  return m?.[1] && m[2] ? { name: m[1], pid: Number(m[2]) } : undefined;
}

describe('network layout', () => {
  let t: Tenant | undefined;
  afterAll(async () => {
    await t?.close();
  });

  it('the DC runs inside the cluster namespace at an address of its own, the simulator is served there, and the host has no private address', async () => {
    const cluster = inject('cluster');
    const dc = new URL(inject('adInClusterUrl'));
    t = await tenant('adsync-net');
    const sim = new URL(t.truetaskUrl);

    // The DC: a samba process whose network namespace is the cluster's.
    expect(dc.hostname).toMatch(/^10\.250\.1\.\d+$/);
    const samba = await listenerInCluster(dc.hostname, Number(dc.port));
    expect(samba?.name).toBe('samba');
    const ns = await runCommand('ip', ['netns', 'identify', String(samba?.pid)]);
    expect(ns.stdout.trim()).toBe(cluster.netns);

    // The simulator: served at its own address in the namespace.
    expect(sim.hostname).toMatch(/^10\.250\.1\.\d+$/);
    expect(sim.hostname).not.toBe(dc.hostname);
    expect((await listenerInCluster(sim.hostname, Number(sim.port || 80)))?.name).toBe('socat');

    // Nodes and pods have their addresses in the namespace; none is on the host.
    const pods = await admin().makeApiClient(CoreV1Api).listPodForAllNamespaces();
    const inside = [cluster.nodeIp, dc.hostname, sim.hostname, ...pods.items.map((p) => p.status?.podIP ?? '').filter((ip) => ip !== '')];
    const onHost = Object.values(networkInterfaces())
      .flat()
      .map((a) => a?.address ?? '');
    expect(onHost.filter((a) => PRIVATE.test(a))).toEqual([]);
    expect(inside.filter((a) => onHost.includes(a))).toEqual([]);
  });
});
