/**
 * `adsync preview NAMESPACE/NAME` (and `report leavers`, `approve`, ...): the
 * AdSync is read from the cluster (the current kube context, or the in-cluster
 * service account when run in a pod) instead of -f FILE; its Secrets then come
 * from the cluster too (src/kube/secret-source.ts, with `get`).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { adSyncSchema, type AdSync } from '../api/adsync.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../api/spec.ts';
import { apiStatusCode } from '../runtime/api-status.ts';
import { formatIssues, InputError, type InputFile } from './input.ts';

export interface ClusterTarget {
  namespace: string;
  name: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** "NAMESPACE/NAME" as the commands take it. */
export function parseTarget(text: string): ClusterTarget {
  const m = /^([^/]+)\/([^/]+)$/.exec(text.trim());
  if (!m || !DNS_LABEL.test(m[1] as string) || !OBJECT_NAME.test(m[2] as string)) {
    throw new InputError(`"${text}" is not NAMESPACE/NAME of an AdSync (for example truetask/corp)`);
  }
  return { namespace: m[1] as string, name: m[2] as string };
}

export function describeTarget(t: ClusterTarget): string {
  return `${t.namespace}/${t.name}`;
}

/** Reads and validates the AdSync; a missing object, a missing context or a refusal is an InputError saying what to fix. */
export async function readClusterAdSync(kc: KubeConfig | undefined, target: ClusterTarget): Promise<AdSync> {
  if (!kc) throw new InputError(`no kube context to read AdSync ${describeTarget(target)} from: set KUBECONFIG or run in a pod with a service account, or give -f FILE`);
  const { CustomObjectsApi } = await import('@kubernetes/client-node');
  const custom = kc.makeApiClient(CustomObjectsApi);
  const where = `the kube context "${kc.getCurrentContext() || 'in-cluster'}"`;
  let raw: unknown;
  try {
    raw = await custom.getNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, plural: PLURAL, namespace: target.namespace, name: target.name });
  } catch (err) {
    const code = apiStatusCode(err);
    if (code === 404) throw new InputError(`AdSync ${describeTarget(target)} not found in ${where}`);
    if (code === 401 || code === 403) throw new InputError(`not allowed to get AdSync ${describeTarget(target)} in ${where} (HTTP ${code}): it needs get on adsyncs.truetask.io`);
    throw new InputError(`could not read AdSync ${describeTarget(target)} from ${where}: ${code ? `HTTP ${code}` : (err as Error).message}`);
  }
  const parsed = adSyncSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`AdSync ${describeTarget(target)} is invalid:\n${formatIssues('', parsed.error)}`);
  return parsed.data;
}

/** The input of a one-shot command from the cluster: the AdSync, and no Secrets (they are read from the cluster). */
export async function readClusterInput(kc: KubeConfig | undefined, target: ClusterTarget): Promise<InputFile> {
  return { adsync: await readClusterAdSync(kc, target), secrets: [] };
}
