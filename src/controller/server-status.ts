/**
 * status.server, status.lastRun and the FailedOver event (pure): which domain
 * controller answered a run, which ones before it did not, and whether the run
 * read everything or only what changed.
 */
import { MAX_MESSAGE, type LastRun, type ServerStatus } from '../api/status.ts';
import type { ServerIdentity } from '../ldap/server-identity.ts';
import type { RunReport } from '../reconcile/engine.ts';
import { clipBytes } from '../runtime/clip.ts';
import { MAX_DN_BYTES } from './status-size.ts';

export function serverStatus(server: ServerIdentity): ServerStatus {
  return {
    url: clipBytes(server.url, MAX_DN_BYTES),
    dsServiceName: clipBytes(server.dsServiceName, MAX_DN_BYTES),
    invocationId: clipBytes(server.invocationId, 64),
    highestCommittedUSN: server.highestCommittedUSN,
  };
}

/** The FailedOver event's message, or undefined when the first DC answered. */
export function failedOverMessage(report: Pick<RunReport, 'failedOver' | 'server'>): string | undefined {
  const f = report.failedOver ?? [];
  if (f.length === 0) return undefined;
  const tried = f.map((x) => `${x.url} (${x.reason})`).join(', ');
  return `${tried} did not answer; the run used ${report.server?.url ?? 'the next domain controller'}. Check that AD DS runs on ${f.length === 1 ? 'that DC' : 'those DCs'} and that the network path to it is open`;
}

/** status.lastRun after a successful run. */
export function lastRunAfter(previous: LastRun | undefined, report: Pick<RunReport, 'full' | 'entriesRead' | 'completedAt'>, fullReason: string | undefined): LastRun {
  const at = report.completedAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const lastFullAt = report.full ? at : previous?.lastFullAt;
  return {
    kind: report.full ? 'Full' : 'Changed',
    entriesRead: report.entriesRead ?? 0,
    at,
    ...(lastFullAt ? { lastFullAt } : {}),
    ...(report.full && fullReason ? { reason: clipBytes(fullReason, MAX_MESSAGE) } : {}),
  };
}
