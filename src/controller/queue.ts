/**
 * A work queue of object keys: de-duplicated, one run in flight per key, several
 * keys in parallel up to a limit, delayed re-adds (schedules), and capped
 * exponential back-off with jitter for keys whose handler failed.
 */
import type { Logger } from '../log.ts';

export interface HandlerResult {
  /** Run this key again after this many ms (the next scheduled run). */
  requeueAfterMs?: number;
  /** The run failed (and reported it): count it for back-off. */
  failed?: boolean;
}

export interface QueueOptions {
  concurrency: number;
  handler: (key: string) => Promise<HandlerResult>;
  logger: Logger;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

export class WorkQueue {
  readonly #opts: Required<Omit<QueueOptions, 'logger'>> & { logger: Logger };
  readonly #pending = new Set<string>();
  readonly #inFlight = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<string, number>();
  readonly #idleWaiters: Array<() => void> = [];
  #stopped = false;

  constructor(options: QueueOptions) {
    this.#opts = { baseBackoffMs: 1000, maxBackoffMs: 5 * 60_000, random: Math.random, ...options };
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

  /** Queues `key` after `ms`; an earlier pending schedule wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    this.#clearTimer(key);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Drops every trace of `key` (the object was deleted). */
  forget(key: string): void {
    this.#clearTimer(key);
    this.#pending.delete(key);
    this.#dirty.delete(key);
    this.#failures.delete(key);
  }

  /** When `key` is next scheduled, if it is. */
  scheduledAt(key: string): Date | undefined {
    const t = this.#timers.get(key);
    return t ? new Date(t.at) : undefined;
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The back-off for a key's next attempt after `failures` failures: capped, with full jitter over its upper half. */
  backoffMs(failures: number): number {
    const exp = Math.min(this.#opts.maxBackoffMs, this.#opts.baseBackoffMs * 2 ** Math.max(0, failures - 1));
    return Math.round(exp / 2 + (exp / 2) * this.#opts.random());
  }

  get size(): number {
    return this.#pending.size + this.#inFlight.size;
  }

  /** Stops taking work and waits for runs in flight to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const key of [...this.#timers.keys()]) this.#clearTimer(key);
    this.#pending.clear();
    if (this.#inFlight.size === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
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
      const result = await this.#opts.handler(key);
      if (result.failed) {
        const failures = (this.#failures.get(key) ?? 0) + 1;
        this.#failures.set(key, failures);
        requeueAfterMs = result.requeueAfterMs ?? this.backoffMs(failures);
      } else {
        this.#failures.delete(key);
        requeueAfterMs = result.requeueAfterMs;
      }
    } catch (err) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      requeueAfterMs = this.backoffMs(failures);
      this.#opts.logger.warn({ key, failures, retryInMs: requeueAfterMs, err: err instanceof Error ? err.message : String(err) }, 'run failed; backing off');
    } finally {
      this.#inFlight.delete(key);
    }
    if (this.#dirty.delete(key)) this.add(key);
    else if (requeueAfterMs !== undefined) this.addAfter(key, requeueAfterMs);
    if (this.#inFlight.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
    this.#pump();
  }
}
