// vitest globalSetup for the `cluster` project: the single-node cluster of
// scripts/cluster/up.sh (reused when one is up; taken down at the end when this
// run brought it up and no other run holds it; ADSYNC_CLUSTER_KEEP=1 keeps it),
// and ONE Samba AD DC for the run, reachable from pods at a relay inside the
// cluster's network namespace (test/support/cluster.ts).
import type { TestProject } from 'vitest/node';
import { acquireCluster, relayIntoCluster, type ClusterInfo } from './cluster.ts';
import { sambaInfo, startSambaAD, type SambaADInfo } from './samba.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
    ad: SambaADInfo;
    /** The DC as pods reach it: ldaps://<node address in the namespace>:<port> */
    adInClusterUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => console.error(`[global-cluster] ${line}`);
  const [cluster, ad] = await Promise.all([acquireCluster({ log }), startSambaAD({ log })]);
  log(`cluster ${cluster.reused ? 'reused' : 'up'} in ${Math.round(cluster.upMs)} ms (KUBECONFIG=${cluster.kubeconfigPath})`);
  const url = new URL(ad.ldapsUrl);
  const relay = await relayIntoCluster({ host: url.hostname, port: Number(url.port) });
  const { release, ...info } = cluster;
  project.provide('cluster', info);
  project.provide('ad', sambaInfo(ad));
  project.provide('adInClusterUrl', `ldaps://${relay.host}:${relay.port}`);
  return async () => {
    await relay.close();
    await ad.stop();
    await release({ down: !cluster.reused && process.env.ADSYNC_CLUSTER_KEEP !== '1' });
  };
}
