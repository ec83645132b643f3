/**
 * List-then-watch of one kind of custom object, in all namespaces or in each
 * configured one, kept in a cache; robust like client-go's reflector: a failed
 * list or watch is retried with the project's back-off; 410 Gone relists; a
 * watch silent for longer than `idleTimeoutMs` is restarted; the server ends
 * each watch after a randomised timeout, which just resumes from the last
 * resourceVersion. Handlers get the old object on updates and deletes, so the
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
  idleTimeoutMs?: number;
  /** Back-off of failed lists/watches: 500 ms doubling up to this. Default 30 s. */
  maxBackoffMs?: number;
  random?: () => number;
}

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
    let failures = 0;
    while (!signal.aborted) {
      try {
        const list = await this.#list(namespace);
        if (signal.aborted) return;
        this.#replace(namespace, list.items);
        this.#synced.add(namespace ?? '*');
        let rv = list.resourceVersion;
        failures = 0;
        while (!signal.aborted) {
          rv = await this.#watchOnce(namespace, rv, log);
          failures = 0;
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof GoneError) {
          log.info('watch expired (410 Gone); relisting');
          continue;
        }
        failures++;
        const delay = backoffDelayMs(failures, policy, this.#opts.random);
        log.warn({ err: err instanceof Error ? err.message : String(err), failures, retryInMs: delay }, 'list/watch failed; retrying');
        await sleep(delay, signal);
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
              if (type === 'DELETED') this.#remove(key);
              else this.#upsert(key, obj);
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
              this.#watches.add(c);
              if (this.#abort.signal.aborted) c.abort();
            },
            reject,
          );
      });
    } finally {
      if (idleTimer) clearTimeout(idleTimer);
      if (controller) this.#watches.delete(controller);
    }
  }
}
