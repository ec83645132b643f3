/**
 * List-then-watch of one kind of custom object, in all namespaces or in each
 * configured one, kept in a cache; robust like client-go's reflector: one LIST,
 * then watches with bookmarks, each resumed from the last resourceVersion seen
 * (an event or a bookmark) when the server ends it (timeoutSeconds), when it
 * stays silent for longer than `idleTimeoutMs`, or after a failure (warned,
 * backed off). Only 410 Gone (the resourceVersion was compacted away) relists. Handlers get the old object on updates and deletes, so the
 * caller's predicates can tell what changed (a relist reports what it missed as
 * updates and deletes too).
 */
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { backoffDelayMs } from './backoff.ts';
import { sleep } from './sleep.ts';

export interface RawObject {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
}

export interface InformerHandlers {
  onAdd: (key: string, obj: RawObject) => void;
  onUpdate: (key: string, oldObj: RawObject, newObj: RawObject) => void;
  onDelete: (key: string, oldObj: RawObject) => void;
}

export interface InformerOptions extends InformerHandlers {
  kubeConfig: KubeConfig;
  resource: ResourceType;
  /** Namespaces to watch; undefined or empty: all. */
  namespaces?: readonly string[] | undefined;
  logger: Logger;
  /**
   * A watch with no event and no bookmark for this long is resumed from its last
   * resourceVersion (a half-open connection). Must exceed the API server's
   * bookmark period (about a minute). Default 3 min.
   */
  idleTimeoutMs?: number;
  /** Server-side expiry of each watch (default 240-360 s, randomised); the watch is then resumed. */
  watchTimeoutSeconds?: number;
  /** Replaces client-node's Watch (unit tests). */
  watchFactory?: () => WatchLike;
  /** Replaces the list (unit tests). */
  list?: (namespace: string | undefined) => Promise<{ resourceVersion: string; items: RawObject[] }>;
  /** Waits between retries (unit tests); resolves early when signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Back-off of failed lists/watches: 500 ms doubling up to this. Default 30 s. */
  maxBackoffMs?: number;
  random?: () => number;
}

/** What the informer uses of client-node's Watch. */
export interface WatchLike {
  requestTimeoutMs: number;
  watch(
    path: string,
    query: Record<string, unknown>,
    callback: (type: string, obj: never) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

/** Three bookmark periods of the API server. */
export const DEFAULT_IDLE_TIMEOUT_MS = 3 * 60_000;

export function keyOf(obj: RawObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

interface ListResponse {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: RawObject[];
}

class GoneError extends Error {}

export class Informer {
  readonly #opts: InformerOptions;
  readonly #cache = new Map<string, RawObject>();
  readonly #abort = new AbortController();
  readonly #synced = new Set<string>();
  #loops: Array<Promise<void>> = [];
  readonly #watches = new Set<AbortController>();

  constructor(options: InformerOptions) {
    this.#opts = options;
  }

  get(key: string): RawObject | undefined {
    return this.#cache.get(key);
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  /** True once every watched scope has been listed at least once. */
  get hasSynced(): boolean {
    return this.#synced.size === this.#scopes().length;
  }

  #scopes(): Array<string | undefined> {
    const ns = this.#opts.namespaces;
    return ns && ns.length > 0 ? [...ns] : [undefined];
  }

  start(): void {
    this.#loops = this.#scopes().map((ns) => this.#loop(ns));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    for (const w of this.#watches) w.abort();
    await Promise.allSettled(this.#loops);
  }

  #path(namespace: string | undefined): string {
    const { group, version, plural } = this.#opts.resource;
    return namespace ? `/apis/${group}/${version}/namespaces/${namespace}/${plural}` : `/apis/${group}/${version}/${plural}`;
  }

  async #list(namespace: string | undefined): Promise<{ resourceVersion: string; items: RawObject[] }> {
    if (this.#opts.list) return this.#opts.list(namespace);
    const api = this.#opts.kubeConfig.makeApiClient(CustomObjectsApi);
    const { group, version, plural } = this.#opts.resource;
    const items: RawObject[] = [];
    let rv: string | undefined;
    let cont: string | undefined;
    do {
      const params = { group, version, plural, limit: 500, ...(cont ? { _continue: cont } : {}) };
      const body = (namespace ? await api.listNamespacedCustomObject({ ...params, namespace }) : await api.listClusterCustomObject(params)) as ListResponse;
      items.push(...(body.items ?? []));
      rv = body.metadata?.resourceVersion;
      cont = body.metadata?.continue || undefined;
    } while (cont);
    return { resourceVersion: rv ?? '', items };
  }

  #upsert(key: string, obj: RawObject): void {
    const old = this.#cache.get(key);
    this.#cache.set(key, obj);
    if (old === undefined) this.#opts.onAdd(key, obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#opts.onUpdate(key, old, obj);
  }

  #remove(key: string): void {
    const old = this.#cache.get(key);
    if (old === undefined) return;
    this.#cache.delete(key);
    this.#opts.onDelete(key, old);
  }

  #replace(namespace: string | undefined, items: RawObject[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = keyOf(obj);
      seen.add(key);
      this.#upsert(key, obj);
    }
    for (const key of [...this.#cache.keys()]) {
      if ((namespace === undefined || key.startsWith(`${namespace}/`)) && !seen.has(key)) this.#remove(key);
    }
  }

  async #loop(namespace: string | undefined): Promise<void> {
    const log = this.#opts.logger.child({ resource: this.#opts.resource.plural, scope: namespace ?? '*' });
    const policy = { baseDelayMs: 500, maxDelayMs: this.#opts.maxBackoffMs ?? 30_000 };
    const signal = this.#abort.signal;
    const sleepFor = this.#opts.sleep ?? sleep;
    let failures = 0;
    /** Where the next watch starts (the last resourceVersion seen, also by a watch that failed); undefined: list first. */
    const cursor: { rv: string | undefined } = { rv: undefined };
    while (!signal.aborted) {
      try {
        if (cursor.rv === undefined) {
          const list = await this.#list(namespace);
          if (signal.aborted) return;
          this.#replace(namespace, list.items);
          this.#synced.add(namespace ?? '*');
          cursor.rv = list.resourceVersion;
          failures = 0;
        }
        // Ended by the server (timeoutSeconds) or silent for too long: resumed from where it was, no relist.
        await this.#watchOnce(namespace, cursor as { rv: string }, log);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof GoneError) {
          log.info('watch expired (410 Gone); relisting');
          cursor.rv = undefined;
          continue;
        }
        failures++;
        const delay = backoffDelayMs(failures, policy, this.#opts.random);
        log.warn({ err: err instanceof Error ? err.message : String(err), failures, retryInMs: delay, relist: cursor.rv === undefined }, cursor.rv === undefined ? 'list failed; retrying' : 'watch failed; retrying from the last resourceVersion');
        await sleepFor(delay, signal);
      }
    }
  }

  /**
   * One watch from `cursor.rv`, which follows every event and bookmark; resolves
   * when the server ends it or it stays silent (no event, no bookmark) for
   * idleTimeoutMs; rejects with GoneError on 410 and with the error on a real failure.
   */
  async #watchOnce(namespace: string | undefined, cursor: { rv: string }, log: Logger): Promise<void> {
    const idleMs = this.#opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const random = this.#opts.random ?? Math.random;
    const timeoutSeconds = this.#opts.watchTimeoutSeconds ?? Math.round(240 + 120 * random());
    let controller: AbortController | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        let gone = false;
        // client-node 2.0.1 aborts a watch after requestTimeoutMs without data (default 30 s, shorter than
        // the server's bookmark period), a field its typings mark private: make it the inactivity timeout.
        const watch = this.#opts.watchFactory ? this.#opts.watchFactory() : (new Watch(this.#opts.kubeConfig) as unknown as WatchLike);
        watch.requestTimeoutMs = idleMs;
        watch
          .watch(
            this.#path(namespace),
            { resourceVersion: cursor.rv, allowWatchBookmarks: true, timeoutSeconds },
            (type: string, obj: RawObject & { code?: number }) => {
              if (type === 'ERROR') {
                if (obj.code === 410) gone = true;
                return;
              }
              const objRv = obj.metadata?.resourceVersion;
              if (objRv) cursor.rv = objRv;
              if (type === 'BOOKMARK') return;
              const key = keyOf(obj);
              if (type === 'DELETED') this.#remove(key);
              else this.#upsert(key, obj);
            },
            (err: unknown) => {
              if (gone || (err as { statusCode?: unknown } | null)?.statusCode === 410) reject(new GoneError('410 Gone'));
              else if (this.#abort.signal.aborted || !err) resolve();
              else if (isTimeout(err)) {
                log.info({ idleMs }, 'watch silent for too long (no event, no bookmark); resuming it from the last resourceVersion');
                resolve();
              } else reject(err instanceof Error ? err : new Error(String(err)));
            },
          )
          .then(
            (c) => {
              controller = c;
              this.#watches.add(c);
              if (this.#abort.signal.aborted) c.abort();
            },
            reject,
          );
      });
    } finally {
      if (controller) this.#watches.delete(controller);
    }
  }
}

function isTimeout(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'TimeoutError';
}
