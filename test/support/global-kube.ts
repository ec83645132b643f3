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
    /** The API server's audit log: list and watch of AdSyncs (test/support/audit.ts reads it). */
    kubeAuditLog: string;
  }
}

/** Audited: lists and watches of AdSyncs only (what the informer does), at Metadata level. */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [list, watch]
    resources:
      - group: truetask.io
        resources: [adsyncs]
  - level: None
`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const apiServer = await startApiServer({ auditPolicy: AUDIT_POLICY });
  console.error(`[global-kube] kube-apiserver ready at ${apiServer.server} in ${Math.round(performance.now() - t0)} ms (kubeconfig ${apiServer.kubeconfigPath})`);

  const previousKubeconfig = process.env.KUBECONFIG;
  process.env.KUBECONFIG = apiServer.kubeconfigPath;
  project.provide('kubeconfigPath', apiServer.kubeconfigPath);
  project.provide('kubeServer', apiServer.server);
  project.provide('kubeBinDir', apiServer.binDir);
  project.provide('kubeAuditLog', apiServer.auditLogPath ?? '');

  return async () => {
    await apiServer.stop();
    if (previousKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = previousKubeconfig;
  };
}
