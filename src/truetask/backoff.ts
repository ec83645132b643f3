/**
 * The Truetask client's retry schedule: how many attempts, the back-off's bounds,
 * and Retry-After.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included (>= 1). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest Retry-After this client honours; longer asks are cut to this. */
  maxRetryAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
};

export function resolveRetryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const pick = (value: number | undefined, fallback: number, min: number): number =>
    value === undefined || !Number.isFinite(value) ? fallback : Math.max(min, value);
  const maxAttempts = Math.floor(pick(partial.maxAttempts, defaultRetryPolicy.maxAttempts, 1));
  const baseDelayMs = pick(partial.baseDelayMs, defaultRetryPolicy.baseDelayMs, 0);
  const maxDelayMs = Math.max(baseDelayMs, pick(partial.maxDelayMs, defaultRetryPolicy.maxDelayMs, 0));
  const maxRetryAfterMs = pick(partial.maxRetryAfterMs, defaultRetryPolicy.maxRetryAfterMs, 0);
  return { maxAttempts, baseDelayMs, maxDelayMs, maxRetryAfterMs };
}

/** The project's one back-off (src/runtime/backoff.ts), used between attempts. */
export { backoffDelayMs } from '../runtime/backoff.ts';

/**
 * Parses a Retry-After header (delta-seconds or an HTTP date) into milliseconds,
 * capped at `maxMs`. Undefined when absent or unparsable.
 */
export function parseRetryAfterMs(header: string | string[] | undefined, maxMs: number, now: number = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    // An HTTP date (IMF-fixdate and friends) always names a month.
    if (!/[a-z]{3}/i.test(text)) return undefined;
    const date = Date.parse(text);
    if (Number.isNaN(date)) return undefined;
    ms = date - now;
  }
  if (!Number.isFinite(ms)) return maxMs;
  return Math.min(maxMs, Math.max(0, ms));
}
