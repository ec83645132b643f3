/**
 * List-then-watch of AdSyncs, in all namespaces or in each configured one, kept
 * in a cache. Robust like client-go's reflector: a failed list or watch is
 * retried with capped exponential back-off and jitter; 410 Gone relists; a watch
 * silent for longer than `idleTimeoutMs` is restarted; the server ends each watch
 * after a randomised timeout, which just resumes from the last resourceVersion.
 */
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, PLURAL } from '../api/spec.ts';
import type { Logger } from '../log.ts';

export interface RawObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface WatcherOptions {
  kubeConfig: KubeConfig;
  /** Namespaces to watch; undefined or empty: all. */
  namespaces?: readonly string[] | undefined;
  logger: Logger;
  onUpsert: (key: string, obj: RawObject) => void;
  onDelete: (key: string) => void;
  idleTimeoutMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

export function keyOf(obj: RawObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

interface ListResponse {
  metadata?: { resourceVersion?: string };
  items?: RawObject[];
}

class GoneError extends Error {}

export class AdSyncWatcher {
  readonly #opts: WatcherOptions;
  readonly #cache = new Map<string, RawObject>();
  readonly #abort = new AbortController();
  readonly #synced = new Set<string>();
  #loops: Array<Promise<void>> = [];
  #current: AbortController | undefined;

  constructor(options: WatcherOptions) {
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
    this.#current?.abort();
    await Promise.allSettled(this.#loops);
  }

  #path(namespace: string | undefined): string {
    return namespace ? `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${PLURAL}` : `/apis/${API_GROUP}/${API_VERSION}/${PLURAL}`;
  }

  async #list(namespace: string | undefined): Promise<ListResponse> {
    const api = this.#opts.kubeConfig.makeApiClient(CustomObjectsApi);
    const items: RawObject[] = [];
    let rv: string | undefined;
    let cont: string | undefined;
    do {
      const params = { group: API_GROUP, version: API_VERSION, plural: PLURAL, limit: 500, ...(cont ? { _continue: cont } : {}) };
      const body = (namespace
        ? await api.listNamespacedCustomObject({ ...params, namespace })
        : await api.listClusterCustomObject(params)) as ListResponse & { metadata?: { continue?: string } };
      items.push(...(body.items ?? []));
      rv = body.metadata?.resourceVersion;
      cont = body.metadata?.continue || undefined;
    } while (cont);
    return { metadata: { resourceVersion: rv ?? '' }, items };
  }

  #replace(namespace: string | undefined, items: RawObject[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = keyOf(obj);
      seen.add(key);
      this.#cache.set(key, obj);
      this.#opts.onUpsert(key, obj);
    }
    for (const key of [...this.#cache.keys()]) {
      if ((namespace === undefined || key.startsWith(`${namespace}/`)) && !seen.has(key)) {
        this.#cache.delete(key);
        this.#opts.onDelete(key);
      }
    }
  }

  async #loop(namespace: string | undefined): Promise<void> {
    const log = this.#opts.logger.child({ scope: namespace ?? '*' });
    const random = this.#opts.random ?? Math.random;
    const maxBackoff = this.#opts.maxBackoffMs ?? 30_000;
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      try {
        const list = await this.#list(namespace);
        this.#replace(namespace, list.items ?? []);
        this.#synced.add(namespace ?? '*');
        let rv = list.metadata?.resourceVersion ?? '';
        failures = 0;
        for (;;) {
          if (this.#abort.signal.aborted) return;
          rv = await this.#watchOnce(namespace, rv, log);
          failures = 0;
        }
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        if (err instanceof GoneError) {
          log.info('watch expired (410 Gone); relisting');
          continue;
        }
        failures++;
        const exp = Math.min(maxBackoff, 500 * 2 ** (failures - 1));
        const delay = Math.round(exp / 2 + (exp / 2) * random());
        log.warn({ err: err instanceof Error ? err.message : String(err), failures, retryInMs: delay }, 'list/watch of AdSyncs failed; retrying');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.#abort.signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    }
  }

  /** One watch from `rv`; resolves with the last resourceVersion seen when it ends normally. */
  async #watchOnce(namespace: string | undefined, rv: string, log: Logger): Promise<string> {
    const idleMs = this.#opts.idleTimeoutMs ?? 10 * 60_000;
    const random = this.#opts.random ?? Math.random;
    let last = rv;
    let idleTimer: NodeJS.Timeout | undefined;
    let controller: AbortController | undefined;
    let idle = false;
    const resetIdle = () => {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        idle = true;
        log.warn({ idleMs }, 'watch silent for too long; restarting it');
        controller?.abort();
      }, idleMs);
    };
    try {
      return await new Promise<string>((resolve, reject) => {
        let gone = false;
        const watch = new Watch(this.#opts.kubeConfig);
        resetIdle();
        watch
          .watch(
            this.#path(namespace),
            { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: Math.round(240 + 120 * random()) },
            (type: string, obj: RawObject & { code?: number }) => {
              resetIdle();
              if (type === 'ERROR') {
                if (obj.code === 410) gone = true;
                return;
              }
              const objRv = obj.metadata?.resourceVersion;
              if (objRv) last = objRv;
              if (type === 'BOOKMARK') return;
              const key = keyOf(obj);
              if (type === 'DELETED') {
                this.#cache.delete(key);
                this.#opts.onDelete(key);
              } else {
                this.#cache.set(key, obj);
                this.#opts.onUpsert(key, obj);
              }
            },
            (err: unknown) => {
              if (gone) reject(new GoneError('410 Gone'));
              else if (err && !idle && !this.#abort.signal.aborted) reject(err instanceof Error ? err : new Error(String(err)));
              else resolve(last);
            },
          )
          .then(
            (c) => {
              controller = c;
              this.#current = c;
              if (this.#abort.signal.aborted) c.abort();
            },
            reject,
          );
      });
    } finally {
      if (idleTimer) clearTimeout(idleTimer);
    }
  }
}
