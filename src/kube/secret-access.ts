/**
 * The Secret boundary, narrowed (opt-in, `adsync controller --require-secret-access`).
 *
 * By default (the Flux / External Secrets convention) whoever may create an AdSync in a
 * namespace can make the operator send any Secret of that namespace, any key, to a host
 * of their choosing, as the bind password or the API token. With this switch a Secret is
 * used only when its owner opened it to the AdSync: the annotation
 * `truetask.io/adsync-access` lists the AdSyncs of its namespace that may use it, as
 * comma-separated names (`corp, hr-sync`), or `*` for all of them. Anything else stalls
 * the AdSync with SecretNotAllowed before any value is used. Setting the annotation needs
 * `patch` on the Secret, which a tenant who can only create AdSyncs does not have.
 */
import { configError } from '../errors.ts';

export const SECRET_ACCESS_ANNOTATION = 'truetask.io/adsync-access';

/** The AdSyncs a Secret is opened to, from its annotation; undefined when it has none. */
export function allowedAdSyncs(annotations: Readonly<Record<string, string>> | undefined): { all: boolean; names: Set<string> } | undefined {
  const raw = annotations?.[SECRET_ACCESS_ANNOTATION];
  if (raw === undefined) return undefined;
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return { all: names.includes('*'), names: new Set(names) };
}

/** A check of one Secret's metadata for one AdSync: throws SecretNotAllowed when the Secret is not opened to it. */
export type SecretAccessCheck = (secret: { namespace: string; name: string; annotations?: Readonly<Record<string, string>> | undefined }) => void;

export function secretAccessCheck(adsync: { namespace: string; name: string }): SecretAccessCheck {
  return (secret) => {
    const allowed = allowedAdSyncs(secret.annotations);
    if (allowed && (allowed.all || allowed.names.has(adsync.name))) return;
    const now = allowed === undefined ? 'it has no such annotation' : `it lists only ${[...allowed.names].map((n) => `"${n}"`).join(', ') || 'no AdSync'}`;
    throw configError(
      'SecretNotAllowed',
      `Secret ${secret.namespace}/${secret.name} is not opened to AdSync ${adsync.namespace}/${adsync.name}: this operator uses a Secret only when its annotation ${SECRET_ACCESS_ANNOTATION} lists the AdSync (${now})`,
      { hint: `If this AdSync may use the Secret, its owner adds the AdSync's name: kubectl -n ${secret.namespace} annotate secret ${secret.name} ${SECRET_ACCESS_ANNOTATION}=${adsync.name} (a comma-separated list keeps the others); otherwise point the AdSync at a Secret of its own` },
    );
  };
}
