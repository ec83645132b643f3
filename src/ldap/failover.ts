/**
 * Several domain controllers (spec.ldap.url, then spec.ldap.failover in order):
 * the next one is tried only when one does not answer (connection refused, host
 * not found, a timeout, a dropped connection), never after an LDAP answer such
 * as invalidCredentials, so a wrong password is sent to one DC only and the
 * lockout policy sees one bad bind per attempt, as with a single DC. A whole
 * read runs against one DC (changed-only runs depend on it): a DC that stops
 * answering half-way fails over to the next, which reads everything again.
 */
import { AdSyncError, directoryError, type DirectoryReason } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DirectorySession, LdapConnectionConfig } from './session.ts';

/** Reasons that mean "this DC did not answer", after which the next DC is tried. */
const NO_ANSWER = new Set(['ConnectionRefused', 'HostNotFound', 'Timeout', 'ConnectionLost']);

export function isNoAnswer(err: unknown): boolean {
  return err instanceof AdSyncError && err.source === 'directory' && NO_ANSWER.has(err.reason);
}

/** The DCs in the order they are tried, each as a connection config of its own. */
export function serversOf(cfg: LdapConnectionConfig): LdapConnectionConfig[] {
  const { failover, ...primary } = cfg;
  return [
    primary,
    ...(failover ?? []).map((f) => ({ ...primary, url: f.url, tls: { ...primary.tls, serverName: f.serverName ?? primary.tls.serverName } })),
  ];
}

export interface FailedOver {
  url: string;
  reason: string;
  message: string;
}

export interface FailoverResult<T> {
  value: T;
  /** The DC that answered. */
  url: string;
  /** The DCs tried before it, that did not answer (empty: the first one answered). */
  failedOver: FailedOver[];
}

export type OpenDirectory = (cfg: LdapConnectionConfig, logger: Logger) => Promise<DirectorySession>;

/**
 * Opens a session with the first DC that answers and runs `fn` with it. An error
 * that is an answer (bad credentials, a missing base DN, a TLS failure, a search
 * limit) ends it at once; when no DC answers, the error names each one.
 */
export async function withFailover<T>(cfg: LdapConnectionConfig, logger: Logger, open: OpenDirectory, fn: (session: DirectorySession) => Promise<T>): Promise<FailoverResult<T>> {
  const servers = serversOf(cfg);
  const failedOver: FailedOver[] = [];
  for (const [i, server] of servers.entries()) {
    let session: DirectorySession | undefined;
    try {
      session = await open(server, logger);
      const value = await fn(session);
      return { value, url: server.url, failedOver };
    } catch (err) {
      if (!isNoAnswer(err) || servers.length === 1) throw err;
      const e = err as AdSyncError;
      failedOver.push({ url: server.url, reason: e.reason, message: e.message });
      const next = servers[i + 1];
      if (next) {
        logger.warn({ url: server.url, reason: e.reason, next: next.url }, 'domain controller did not answer; trying the next one');
        continue;
      }
      throw directoryError(e.reason as DirectoryReason, e.next, `No domain controller answered: ${failedOver.map((f) => `${f.url} (${f.reason})`).join(', ')}`, { cause: err });
    } finally {
      await session?.close();
    }
  }
  throw new Error('withFailover: no server');
}
