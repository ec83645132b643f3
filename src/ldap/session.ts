/**
 * One authenticated, read-only LDAP session with a domain controller (ldapts).
 * Binds and searches only: nothing here can write to AD. A connection that drops
 * is re-opened (StartTLS and bind replayed) and the interrupted step re-run from
 * its start, so a step never continues from a half-read result.
 *
 * Every search carries an explicit server-side time limit, spec.ldap.timeoutSeconds
 * (ldapts would otherwise send 10 s), and the client waits a little longer than that
 * for each answer, so a DC that stops a search says so (SearchTimeLimitExceeded)
 * rather than the client giving up first.
 *
 * A session opened with a signal is cancelled when it aborts: the connection is
 * closed at once (pending answers fail) and every step throws the signal's reason.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, type Entry, type Filter } from 'ldapts';
import type { Logger } from '../log.ts';
import { assertLdapTransport } from '../config/transport-policy.ts';
import { directoryError, type AdSyncError } from '../errors.ts';
import { isConnectionLevel, mapLdapError } from './errors.ts';
import { FrameGuard } from './frame-guard.ts';
import { pipelinedPagedSearch } from './paged-search.ts';

export interface LdapConnectionConfig {
  url: string;
  bindDN: string;
  bindPassword: string;
  startTLS: boolean;
  /** spec.ldap.insecurePlaintext: ldap:// without StartTLS is allowed (else refused before any connection). */
  insecurePlaintext?: boolean | undefined;
  tls: { ca?: string | undefined; serverName?: string | undefined; insecureSkipVerify: boolean };
  timeoutSeconds: number;
  /** How much one session reads at most (defaults: DEFAULT_READ_LIMITS). */
  limits?: Partial<ReadLimits> | undefined;
  /** More DCs (spec.ldap.failover), tried in order by failover.ts; a session talks to one DC only. */
  failover?: ReadonlyArray<{ url: string; serverName?: string | undefined }>;
}

export interface PagedSearch {
  base: string;
  /** A Filter object (src/ldap/filter.ts), never a pasted string. */
  filter: Filter;
  scope: 'base' | 'one' | 'sub';
  attributes: string[];
  pageSize: number;
}

export interface OneSearch {
  filter: Filter;
  scope: 'base' | 'one' | 'sub';
  attributes: string[];
  /** Attributes returned as bytes (e.g. invocationId, a GUID). */
  explicitBufferAttributes?: string[];
}

const MAX_ATTEMPTS = 2;

export interface ReadLimits {
  /**
   * Bytes received for one answer (a page, a base read) before it is complete. A page of
   * 1,000 AD users with the attributes read here is well under 1 MiB; a server that
   * streams entries (or values) for ever is cut off here instead of filling memory.
   */
  maxResponseBytes: number;
  /** One LDAP message (one entry): refused on its first bytes when it announces more (an AD user entry is a few KiB). */
  maxMessageBytes: number;
  /**
   * Entries in one answer: a page holds at most spec.ldap.pageSize (AD's MaxPageSize is
   * 1,000) and every other search reads one base object. ldapts keeps an answer's
   * entries parsed until its end, ~20 times their size on the wire, so this bounds memory.
   */
  maxEntriesPerResponse: number;
  /** Entries one session reads in all its searches (a 100,000-user full run reads ~105,000). */
  maxEntries: number;
}

export const DEFAULT_READ_LIMITS: ReadLimits = { maxResponseBytes: 16 * 1024 * 1024, maxMessageBytes: 4 * 1024 * 1024, maxEntriesPerResponse: 2_000, maxEntries: 2_000_000 };

/**
 * How long the client waits for each answer (a page, a bind): the server-side limit
 * plus a margin, so the DC's own limit answers first.
 */
export function clientTimeoutMs(timeoutSeconds: number): number {
  return (timeoutSeconds + Math.max(2, Math.ceil(timeoutSeconds / 10))) * 1000;
}

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
  readonly #signal: AbortSignal | undefined;
  #connecting: Client | undefined;
  readonly #limits: ReadLimits;
  #client: Client | undefined;
  /** close() was called (e.g. the run's deadline): a dropped connection is not re-opened. */
  #closed = false;
  /** An answer went over maxResponseBytes: the connection was cut, and the step fails with DirectoryTooLarge. */
  #tooLarge: string | undefined;
  #entriesRead = 0;

  private constructor(config: LdapConnectionConfig, logger: Logger, signal: AbortSignal | undefined) {
    this.#config = config;
    this.#logger = logger;
    this.#signal = signal;
    this.#limits = { ...DEFAULT_READ_LIMITS, ...config.limits };
  }

  /**
   * Connects and binds; throws a mapped AdSyncError (ConnectionRefused, TLSError, InvalidCredentials, ...).
   * `signal` cancels the session: the connection closes and every step throws its reason.
   */
  static async open(config: LdapConnectionConfig, logger: Logger, signal?: AbortSignal): Promise<DirectorySession> {
    signal?.throwIfAborted();
    const session = new DirectorySession(config, logger, signal);
    const cancel = () => {
      const c = session.#connecting;
      session.#connecting = undefined;
      void c?.unbind().catch(() => undefined);
      void session.#drop();
    };
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      await session.#connect();
    } catch (err) {
      signal?.removeEventListener('abort', cancel);
      signal?.throwIfAborted();
      throw err;
    }
    return session;
  }

  get url(): string {
    return this.#config.url;
  }

  /** close() was called: the read this session served is over. */
  get closed(): boolean {
    return this.#closed;
  }

  async #connect(): Promise<Client> {
    const cfg = this.#config;
    // Not one byte of a bind leaves in clear text without the opt-in, whatever built this config.
    assertLdapTransport({ url: cfg.url, startTLS: cfg.startTLS, insecurePlaintext: cfg.insecurePlaintext });
    const tlsOptions = tlsOptionsFor(cfg);
    const client = new Client({
      url: cfg.url,
      timeout: clientTimeoutMs(cfg.timeoutSeconds),
      connectTimeout: cfg.timeoutSeconds * 1000,
      // TLS options only for ldaps:// (ldapts would otherwise wrap a plain ldap:// socket);
      // StartTLS gets them when it upgrades.
      ...(cfg.url.startsWith('ldaps://') ? { tlsOptions } : {}),
      strictDN: false,
    });
    this.#connecting = client;
    const ctx = { url: cfg.url };
    try {
      if (cfg.startTLS) await client.startTLS(tlsOptions);
    } catch (err) {
      await client.unbind().catch(() => undefined);
      this.#signal?.throwIfAborted();
      throw mapLdapError(err, { ...ctx, phase: 'connect' });
    }
    try {
      await client.bind(cfg.bindDN, cfg.bindPassword);
    } catch (err) {
      await client.unbind().catch(() => undefined);
      this.#signal?.throwIfAborted();
      throw mapLdapError(err, { ...ctx, phase: client.isConnected ? 'bind' : 'connect' });
    }
    this.#connecting = undefined;
    if (this.#signal?.aborted) {
      await client.unbind().catch(() => undefined);
      throw this.#signal.reason;
    }
    this.#logger.debug({ url: cfg.url, startTLS: cfg.startTLS }, 'bound to domain controller');
    this.#guardResponses(client);
    this.#client = client;
    return client;
  }

  /**
   * Counts the bytes of each answer as they arrive (ldapts keeps a search's entries
   * until its last message) and cuts the connection past maxResponseBytes. One
   * operation is in flight at a time, so an answer's bytes are those since the last
   * final message (anything but an entry or a reference).
   */
  #guardResponses(client: Client): void {
    const internals = client as unknown as { socket?: NodeJS.EventEmitter & { destroy(): void }; messageParser?: NodeJS.EventEmitter };
    const socket = internals.socket;
    if (!socket || !internals.messageParser) return;
    const { maxResponseBytes, maxEntriesPerResponse, maxMessageBytes } = this.#limits;
    const frames = new FrameGuard(maxMessageBytes);
    let pending = 0;
    let entries = 0;
    const cut = (what: string) => {
      if (this.#tooLarge !== undefined) return;
      this.#tooLarge = what;
      socket.destroy();
    };
    internals.messageParser.on('message', (message: object) => {
      const kind = message.constructor.name;
      if (kind === 'SearchEntry' || kind === 'SearchReference') {
        if (++entries > maxEntriesPerResponse) cut(`more than ${maxEntriesPerResponse} entries in one answer`);
      } else {
        pending = 0;
        entries = 0;
      }
    });
    socket.on('data', (chunk: Buffer) => {
      const announced = frames.push(chunk);
      if (announced !== undefined) cut(`a message announced as ${announced > 2 ** 40 ? 'larger than 1 TiB' : `${Math.ceil(announced / 1024 / 1024)} MiB`} (more than ${Math.round(maxMessageBytes / 1024 / 1024)} MiB)`);
      pending += chunk.length;
      if (pending > maxResponseBytes) cut(`an answer of more than ${Math.round(maxResponseBytes / 1024 / 1024)} MiB`);
    });
  }

  #tooLargeError(what: string, name: string): AdSyncError {
    return directoryError('DirectoryTooLarge', 'backoff', `${this.#config.url} sent ${what} while reading ${name}; the operator stopped reading`);
  }

  /** The server-side time limit sent with every search, in seconds. */
  get timeLimitSeconds(): number {
    return this.#config.timeoutSeconds;
  }

  /**
   * Runs one read step. If the connection drops or times out, reconnects, rebinds
   * and runs the step again from its start (at most once more). `name` says what
   * the step reads, for error messages ("users", "members of CN=...").
   */
  async step<T>(name: string, base: string, fn: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.#signal?.throwIfAborted();
      if (this.#closed) throw directoryError('ConnectionLost', 'retry', `The session with ${this.#config.url} was closed while reading ${name}`);
      const client = this.#client ?? (await this.#connect());
      try {
        return await fn(client);
      } catch (err) {
        this.#signal?.throwIfAborted();
        if (this.#tooLarge !== undefined) {
          await this.#drop();
          throw this.#tooLargeError(this.#tooLarge, name);
        }
        if (this.#closed) throw mapLdapError(err, { phase: 'search', url: this.#config.url, baseDN: base, search: name, timeLimitSeconds: this.#config.timeoutSeconds });
        const mapped = mapLdapError(err, { phase: 'search', url: this.#config.url, baseDN: base, search: name, timeLimitSeconds: this.#config.timeoutSeconds });
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
    const started = performance.now();
    let entries = 0;
    let pages = 0;
    await this.step(name, search.base, async (client) => {
      reset();
      entries = 0;
      pages = 0;
      const read = await pipelinedPagedSearch(
        client,
        { base: search.base, filter: search.filter, scope: search.scope, attributes: search.attributes, pageSize: search.pageSize, timeLimit: this.#config.timeoutSeconds },
        {
          received: (n) => {
            this.#entriesRead += n;
            if (this.#entriesRead > this.#limits.maxEntries) throw this.#tooLargeError(`more than ${this.#limits.maxEntries} entries in one run`, name);
          },
          page: onPage,
        },
        // onPage failed while the next page was on its way: that half-read search is not
        // left on the connection; the next step opens a new one.
        () => this.#drop(),
      );
      entries = read.entries;
      pages = read.pages;
    });
    this.#logger.debug({ search: name, entries, pages, ms: Math.round(performance.now() - started) }, 'LDAP search done');
  }

  /**
   * One unpaged search (a base-object read, a root DSE read), with the same time
   * limit and reconnect rules. `missingIsEmpty`: a base that does not exist
   * (noSuchObject) gives no entries instead of an error.
   */
  async search(name: string, base: string, search: OneSearch, opts: { missingIsEmpty?: boolean } = {}): Promise<Entry[]> {
    return this.step(name, base, async (client) => {
      try {
        const { searchEntries } = await client.search(base, { ...search, sizeLimit: 0, timeLimit: this.#config.timeoutSeconds });
        return searchEntries;
      } catch (err) {
        if (opts.missingIsEmpty && (err as { code?: unknown }).code === 32) return [];
        throw err;
      }
    });
  }

  async #drop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.unbind().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#drop();
  }
}
