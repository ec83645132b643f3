/**
 * One authenticated, read-only LDAP session with a domain controller (ldapts).
 * Binds and searches only: nothing here can write to AD. A connection that drops
 * is re-opened (StartTLS and bind replayed) and the interrupted step re-run from
 * its start, so a step never continues from a half-read result.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, type Entry, type Filter, type SearchOptions } from 'ldapts';
import type { Logger } from '../log.ts';
import { isConnectionLevel, mapLdapError } from './errors.ts';

export interface LdapConnectionConfig {
  url: string;
  bindDN: string;
  bindPassword: string;
  startTLS: boolean;
  tls: { ca?: string | undefined; serverName?: string | undefined; insecureSkipVerify: boolean };
  timeoutSeconds: number;
}

export interface PagedSearch {
  base: string;
  /** A Filter object (src/ldap/filter.ts), never a pasted string. */
  filter: Filter;
  scope: 'base' | 'one' | 'sub';
  attributes: string[];
  pageSize: number;
}

const MAX_ATTEMPTS = 2;

export function tlsOptionsFor(config: LdapConnectionConfig): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: !config.tls.insecureSkipVerify, minVersion: 'TLSv1.2' };
  if (config.tls.ca) options.ca = [config.tls.ca];
  if (config.tls.serverName) options.servername = config.tls.serverName;
  else {
    const host = new URL(config.url).hostname.replace(/^\[|\]$/g, '');
    if (!isIP(host)) options.servername = host;
  }
  return options;
}

export class DirectorySession {
  readonly #config: LdapConnectionConfig;
  readonly #logger: Logger;
  #client: Client | undefined;

  private constructor(config: LdapConnectionConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  /** Connects and binds; throws a mapped AdSyncError (ConnectionRefused, TLSError, InvalidCredentials, ...). */
  static async open(config: LdapConnectionConfig, logger: Logger): Promise<DirectorySession> {
    const session = new DirectorySession(config, logger);
    await session.#connect();
    return session;
  }

  get url(): string {
    return this.#config.url;
  }

  async #connect(): Promise<Client> {
    const cfg = this.#config;
    const timeoutMs = cfg.timeoutSeconds * 1000;
    const tlsOptions = tlsOptionsFor(cfg);
    const client = new Client({
      url: cfg.url,
      timeout: timeoutMs,
      connectTimeout: timeoutMs,
      // TLS options only for ldaps:// (ldapts would otherwise wrap a plain ldap:// socket);
      // StartTLS gets them when it upgrades.
      ...(cfg.url.startsWith('ldaps://') ? { tlsOptions } : {}),
      strictDN: false,
    });
    const ctx = { url: cfg.url };
    try {
      if (cfg.startTLS) await client.startTLS(tlsOptions);
    } catch (err) {
      await client.unbind().catch(() => undefined);
      throw mapLdapError(err, { ...ctx, phase: 'connect' });
    }
    try {
      await client.bind(cfg.bindDN, cfg.bindPassword);
    } catch (err) {
      await client.unbind().catch(() => undefined);
      throw mapLdapError(err, { ...ctx, phase: client.isConnected ? 'bind' : 'connect' });
    }
    this.#logger.debug({ url: cfg.url, startTLS: cfg.startTLS }, 'bound to domain controller');
    this.#client = client;
    return client;
  }

  /**
   * Runs one read step. If the connection drops or times out, reconnects, rebinds
   * and runs the step again from its start (at most once more).
   */
  async step<T>(name: string, base: string, fn: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = this.#client ?? (await this.#connect());
      try {
        return await fn(client);
      } catch (err) {
        const mapped = mapLdapError(err, { phase: 'search', url: this.#config.url, baseDN: base });
        if (attempt < MAX_ATTEMPTS && isConnectionLevel(mapped)) {
          this.#logger.warn({ step: name, reason: mapped.reason, attempt }, 'LDAP connection lost; reconnecting and re-reading this step');
          await this.#drop();
          continue;
        }
        throw mapped;
      }
    }
  }

  /**
   * A paged search, handed to `onPage` one page at a time so raw results of the
   * whole directory are never held at once. Referrals and continuation references
   * are ignored. Re-run from the first page after a reconnect: `reset` is called
   * first so the caller can drop what it gathered.
   */
  async pagedSearch(name: string, search: PagedSearch, onPage: (entries: Entry[]) => void, reset: () => void): Promise<void> {
    await this.step(name, search.base, async (client) => {
      reset();
      const options: SearchOptions = {
        scope: search.scope,
        filter: search.filter,
        attributes: search.attributes,
        paged: { pageSize: search.pageSize },
        sizeLimit: 0,
      };
      for await (const page of client.searchPaginated(search.base, options)) {
        onPage(page.searchEntries);
      }
    });
  }

  async #drop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.unbind().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.#drop();
  }
}
