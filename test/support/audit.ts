// Reads the test API server's audit log (test/support/global-kube.ts audits lists
// and watches of AdSyncs), e.g. to count the LISTs a controller made.
import { readFile } from 'node:fs/promises';

export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user?: { username?: string };
  impersonatedUser?: { username?: string };
  objectRef?: { resource?: string; namespace?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp?: string;
}

/** Every audit event so far (the log is written before each request is answered). */
export async function readAuditLog(path: string): Promise<AuditEvent[]> {
  if (!path) throw new Error('no audit log: the kube-apiserver was started without an audit policy');
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    if ((err as { code?: string }).code === 'ENOENT') return '';
    throw err;
  });
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditEvent);
}

/** Completed LISTs and started WATCHes of `resource` in `namespace`. */
export function listsAndWatches(events: readonly AuditEvent[], namespace: string, resource = 'adsyncs'): { lists: AuditEvent[]; watches: AuditEvent[] } {
  const mine = events.filter((e) => e.objectRef?.resource === resource && e.objectRef.namespace === namespace);
  return {
    lists: mine.filter((e) => e.verb === 'list' && e.stage === 'ResponseComplete'),
    watches: mine.filter((e) => e.verb === 'watch' && e.stage === 'ResponseStarted'),
  };
}
