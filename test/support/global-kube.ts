// vitest globalSetup for the `kube` project: ONE real kube-apiserver + etcd per
// test run. Tests get the admin kubeconfig via inject('kubeconfigPath') (child
// processes via $KUBECONFIG) and isolate themselves by namespace
// (test/support/kube-namespace.ts).
import type { TestProject } from 'vitest/node';
import { startApiServer } from './kube-apiserver.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfigPath: string;
    kubeServer: string;
    kubeBinDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const apiServer = await startApiServer();
  console.error(`[global-kube] kube-apiserver ready at ${apiServer.server} in ${Math.round(performance.now() - t0)} ms (kubeconfig ${apiServer.kubeconfigPath})`);

  const previousKubeconfig = process.env.KUBECONFIG;
  process.env.KUBECONFIG = apiServer.kubeconfigPath;
  project.provide('kubeconfigPath', apiServer.kubeconfigPath);
  project.provide('kubeServer', apiServer.server);
  project.provide('kubeBinDir', apiServer.binDir);

  return async () => {
    await apiServer.stop();
    if (previousKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = previousKubeconfig;
  };
}
