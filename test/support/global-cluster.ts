// vitest globalSetup for the `cluster` project: the single-node cluster of
// scripts/cluster/up.sh (reused when one is up; taken down at the end when this
// run brought it up and no other run holds it; ADSYNC_CLUSTER_KEEP=1 keeps it),
// and ONE Samba AD DC for the run, running inside the cluster's network namespace
// at an address of its own, where pods reach it (the host: at 127.0.0.N).
import type { TestProject } from 'vitest/node';
import { acquireCluster, CLUSTER_NETNS, type ClusterInfo } from './cluster.ts';
import { sambaInfo, startSambaAD, type SambaADInfo } from './samba.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
    ad: SambaADInfo;
    /** The DC as pods reach it: ldaps://10.250.1.N:636, its address in the namespace */
    adInClusterUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => console.error(`[global-cluster] ${line}`);
  const cluster = await acquireCluster({ log });
  log(`cluster ${cluster.reused ? 'reused' : 'up'} in ${Math.round(cluster.upMs)} ms (KUBECONFIG=${cluster.kubeconfigPath})`);
  // The DC needs the namespace, so it starts once the cluster is up.
  const ad = await startSambaAD({ log, netns: CLUSTER_NETNS }).catch(async (err: unknown) => {
    await cluster.release({ down: !cluster.reused && process.env.ADSYNC_CLUSTER_KEEP !== '1' });
    throw err;
  });
  const { release, ...info } = cluster;
  project.provide('cluster', info);
  project.provide('ad', sambaInfo(ad));
  project.provide('adInClusterUrl', ad.inNetns?.ldapsUrl ?? '');
  return async () => {
    await ad.stop();
    await release({ down: !cluster.reused && process.env.ADSYNC_CLUSTER_KEEP !== '1' });
  };
}
