/**
 * A controller, like controller-runtime's: an informer feeding a work queue
 * through predicates, a reconcile function per key, and cancellation. The
 * informer's adds (also after a relist or a restart) always enqueue; updates
 * enqueue when `predicate` says the change matters; deletes drop the key and
 * tell `onDelete`. `signal` (e.g. the leader's term) cancels: reconciles in
 * flight see it abort and nothing starts afterwards. Knows nothing of the kind
 * it reconciles.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { Informer, type InformerOptions, type RawObject, type ResourceType } from './informer.ts';
import { WorkQueue, type HandlerResult } from './queue.ts';

/** What the controller needs of an informer (the real one, or a fake in tests). */
export interface InformerLike {
  start(): void;
  stop(): Promise<void>;
  get(key: string): RawObject | undefined;
  readonly hasSynced: boolean;
}

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  resource: ResourceType;
  /** Namespaces to watch; undefined or empty: all. */
  namespaces?: readonly string[] | undefined;
  logger: Logger;
  /** Keys reconciled in parallel. */
  concurrency: number;
  /** Whether an update (old to new object) is worth a reconcile. */
  predicate: (oldObj: RawObject, newObj: RawObject) => boolean;
  /** Reconciles one key; `signal` aborts when the controller's work is cancelled. */
  reconcile: (key: string, signal: AbortSignal) => Promise<HandlerResult>;
  /** The object is gone from the watch (after its key was dropped from the queue). */
  onDelete?: (key: string) => void;
  /** Cancels the work (e.g. leadership lost). stop() alone lets reconciles in flight finish. */
  signal: AbortSignal;
  /** Passed to the informer. */
  idleTimeoutMs?: number | undefined;
  watchTimeoutSeconds?: number | undefined;
  /** Replaces the informer (tests). */
  informer?: (options: InformerOptions) => InformerLike;
}

export class Controller {
  readonly #queue: WorkQueue;
  readonly #informer: InformerLike;

  constructor(options: ControllerOptions) {
    const queue = new WorkQueue({ concurrency: options.concurrency, logger: options.logger, signal: options.signal, handler: options.reconcile });
    const informerOptions: InformerOptions = {
      kubeConfig: options.kubeConfig,
      resource: options.resource,
      namespaces: options.namespaces,
      logger: options.logger,
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      ...(options.watchTimeoutSeconds ? { watchTimeoutSeconds: options.watchTimeoutSeconds } : {}),
      onAdd: (key) => queue.add(key),
      onUpdate: (key, oldObj, newObj) => {
        if (options.predicate(oldObj, newObj)) queue.add(key);
      },
      onDelete: (key) => {
        queue.forget(key);
        options.onDelete?.(key);
      },
    };
    this.#queue = queue;
    this.#informer = options.informer ? options.informer(informerOptions) : new Informer(informerOptions);
  }

  start(): void {
    this.#informer.start();
  }

  /** Reconciles `key` now (e.g. a Secret it depends on changed). */
  enqueue(key: string): void {
    this.#queue.add(key);
  }

  /** The latest object from the watch cache. */
  get(key: string): RawObject | undefined {
    return this.#informer.get(key);
  }

  /** True once every watched scope was listed. */
  get hasSynced(): boolean {
    return this.#informer.hasSynced;
  }

  /** Stops watching and taking work; waits for reconciles in flight (cancelled ones end quickly). */
  async stop(): Promise<void> {
    await this.#informer.stop();
    await this.#queue.stop();
  }
}
