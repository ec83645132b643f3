// Bounded waiting for Kubernetes tests: poll a condition, or await events, with
// a deadline instead of fixed sleeps.
import { ApiException } from '@kubernetes/client-node';

/**
 * Polls `fn` until it returns a value other than undefined/false (or stops
 * throwing), then returns it. Fails after `timeoutMs` with the last error.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 20_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`, { cause: lastError });
    }
    await new Promise((ok) => setTimeout(ok, intervalMs)); // poll interval
  }
}

/** A queue of pushed items with a bounded `next(predicate)` (e.g. for watch events). */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ pred: (t: T) => boolean; resolve: (t: T) => void }> = [];

  push(item: T): void {
    const i = this.waiters.findIndex((w) => w.pred(item));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w?.resolve(item);
      return;
    }
    this.items.push(item);
  }

  /** Resolves with (and removes) the first item matching `pred`, earlier non-matching items are dropped. */
  next(what: string, pred: (t: T) => boolean = () => true, timeoutMs = 20_000): Promise<T> {
    while (this.items.length > 0) {
      const item = this.items.shift() as T;
      if (pred(item)) return Promise.resolve(item);
    }
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (t: T) => {
          clearTimeout(timer);
          resolve(t);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

export interface KubeStatus {
  code: number;
  reason?: string;
  message?: string;
  details?: { causes?: Array<{ type?: string; message?: string; field?: string }> };
}

/** The HTTP code and parsed metav1.Status of a failed client-node call. */
export function kubeError(err: unknown): KubeStatus {
  if (!(err instanceof ApiException)) throw err;
  const raw: unknown = err.body;
  let body: Partial<KubeStatus> = {};
  if (typeof raw === 'string') {
    try {
      body = JSON.parse(raw) as Partial<KubeStatus>;
    } catch {
      body = { message: raw };
    }
  } else if (raw && typeof raw === 'object') {
    body = raw as Partial<KubeStatus>;
  }
  return { ...body, code: err.code };
}

/** Awaits a call that must fail and returns its status (fails the test if it succeeds). */
export async function expectKubeError(what: string, call: Promise<unknown>): Promise<KubeStatus> {
  try {
    await call;
  } catch (err) {
    return kubeError(err);
  }
  throw new Error(`expected ${what} to fail, but it succeeded`);
}
