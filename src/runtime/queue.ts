/**
 * A work queue of object keys, like client-go's workqueue: de-duplicated, one
 * run in flight per key (a key added while it runs runs once more afterwards),
 * several keys in parallel up to a limit, and delayed re-adds.
 *
 * It decides nothing about retries of the work itself: the handler says when
 * the key is due again (`requeueAfterMs`). Only a handler that throws (an
 * unexpected error, e.g. the API server did not take a status write) is backed
 * off here, per key, growing until the key's handler returns normally.
 */
import type { Logger } from '../log.ts';
import { backoffDelayMs, type BackoffPolicy } from './backoff.ts';

export interface HandlerResult {
  /** Run this key again after this many ms (replaces any schedule the key had). */
  requeueAfterMs?: number | undefined;
}

export interface QueueOptions {
  concurrency: number;
  /** `signal` is the queue's: it aborts when the work must stop now (e.g. leadership lost). */
  handler: (key: string, signal: AbortSignal) => Promise<HandlerResult>;
  /**
   * Cancels the queue's work: handlers in flight see it abort, no key starts
   * afterwards. (stop() alone lets runs in flight finish.)
   */
  signal?: AbortSignal;
  logger: Logger;
  /** Back-off of keys whose handler threw. Default 1 s doubling up to 5 min. */
  errorBackoff?: BackoffPolicy;
  random?: () => number;
}

export class WorkQueue {
  readonly #opts: QueueOptions;
  readonly #errorBackoff: BackoffPolicy;
  readonly #pending = new Set<string>();
  readonly #inFlight = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #errors = new Map<string, number>();
  readonly #idleWaiters: Array<() => void> = [];
  #stopped = false;

  readonly #signal: AbortSignal;

  constructor(options: QueueOptions) {
    this.#opts = options;
    this.#errorBackoff = options.errorBackoff ?? { baseDelayMs: 1000, maxDelayMs: 5 * 60_000 };
    this.#signal = options.signal ?? new AbortController().signal;
    this.#signal.addEventListener('abort', () => void this.stop(), { once: true });
  }

  /** Queues `key` now. Added while it runs, it runs once more afterwards. */
  add(key: string): void {
    if (this.#stopped) return;
    this.#clearTimer(key);
    if (this.#inFlight.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#pending.add(key);
    this.#pump();
  }

  /** Queues `key` after `ms`; an earlier schedule of the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) return this.add(key);
    const existing = this.#timers.get(key);
    if (existing && existing.at <= Date.now() + ms) return;
    this.#schedule(key, ms);
  }

  /** Drops every trace of `key` (the object was deleted). A run in flight ends normally. */
  forget(key: string): void {
    this.#clearTimer(key);
    this.#pending.delete(key);
    this.#dirty.delete(key);
    this.#errors.delete(key);
  }

  /** When `key` is next scheduled, if it is. */
  scheduledAt(key: string): Date | undefined {
    const t = this.#timers.get(key);
    return t ? new Date(t.at) : undefined;
  }

  /** Handler errors (throws) of `key` in a row. */
  errors(key: string): number {
    return this.#errors.get(key) ?? 0;
  }

  get size(): number {
    return this.#pending.size + this.#inFlight.size;
  }

  /** Stops taking work and waits for runs in flight to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const key of [...this.#timers.keys()]) this.#clearTimer(key);
    this.#pending.clear();
    this.#dirty.clear();
    if (this.#inFlight.size === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  #schedule(key: string, ms: number): void {
    this.#clearTimer(key);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, { at: Date.now() + ms, timer });
  }

  #clearTimer(key: string): void {
    const t = this.#timers.get(key);
    if (t) clearTimeout(t.timer);
    this.#timers.delete(key);
  }

  #pump(): void {
    while (!this.#stopped && this.#inFlight.size < this.#opts.concurrency) {
      const key = [...this.#pending].find((k) => !this.#inFlight.has(k));
      if (key === undefined) return;
      this.#pending.delete(key);
      this.#inFlight.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    let requeueAfterMs: number | undefined;
    try {
      const result = await this.#opts.handler(key, this.#signal);
      this.#errors.delete(key);
      requeueAfterMs = result.requeueAfterMs;
    } catch (err) {
      // Cancelled (the queue's signal aborted): not a failure, and the queue has stopped.
      const errors = (this.#errors.get(key) ?? 0) + 1;
      this.#errors.set(key, errors);
      requeueAfterMs = backoffDelayMs(errors, this.#errorBackoff, this.#opts.random);
      if (!this.#signal.aborted) this.#opts.logger.warn({ key, errors, retryInMs: requeueAfterMs, err: err instanceof Error ? err.message : String(err) }, 'handler failed; backing off');
    } finally {
      this.#inFlight.delete(key);
    }
    if (!this.#stopped) {
      if (this.#dirty.delete(key)) this.add(key);
      else if (requeueAfterMs !== undefined) {
        if (requeueAfterMs <= 0) this.add(key);
        else this.#schedule(key, requeueAfterMs);
      }
    }
    if (this.#inFlight.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
    this.#pump();
  }
}
