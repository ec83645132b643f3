/**
 * Full or changed-only (pure). A changed-only run reads what changed on one DC
 * since a USN, so it is only sound on the same DC (dsServiceName and
 * invocationId: a restored database gets a new invocationId) and when that DC's
 * USN did not go back (a DC restored from an older copy). Otherwise the run
 * reads everything.
 */
import type { ServerIdentity } from '../ldap/server-identity.ts';

/** Where the last successful run left off (status.server). */
export interface ChangedSince {
  dsServiceName: string;
  invocationId: string;
  highestCommittedUSN: number;
}

export type ChangedRunCheck = { changed: true } | { changed: false; reason: string };

export function changedRunOn(since: ChangedSince, server: ServerIdentity): ChangedRunCheck {
  if (server.dsServiceName.toLowerCase() !== since.dsServiceName.toLowerCase() || server.invocationId.toLowerCase() !== since.invocationId.toLowerCase()) {
    return { changed: false, reason: `another domain controller answered (${server.url}, invocationId ${server.invocationId}) than the last run's (invocationId ${since.invocationId})` };
  }
  if (server.highestCommittedUSN < since.highestCommittedUSN) {
    return { changed: false, reason: `the domain controller's highestCommittedUSN went back from ${since.highestCommittedUSN} to ${server.highestCommittedUSN} (restored from an older copy?)` };
  }
  return { changed: true };
}
