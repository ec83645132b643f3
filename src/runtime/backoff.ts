/**
 * The one back-off of the project: capped exponential growth with "equal
 * jitter" (uniform over the upper half of the step), so that delays always grow
 * with the attempt yet replicas and keys spread out.
 */

export interface BackoffPolicy {
  /** The ceiling of the first delay. */
  baseDelayMs: number;
  /** No delay is ever above this. */
  maxDelayMs: number;
}

/**
 * Delay before the attempt after `attempt` (1-based): uniformly random in
 * [c/2, c] with c = min(maxDelayMs, baseDelayMs * 2^(attempt-1)). A broken
 * random source (NaN, out of range) is clamped into [0, 1].
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.max(0, Math.floor(Number.isFinite(attempt) ? attempt : 1) - 1);
  const ceiling = Math.max(0, Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(exp, 52)));
  let r = random();
  if (!Number.isFinite(r) || r < 0) r = 0;
  if (r > 1) r = 1;
  return Math.max(0, Math.floor(ceiling / 2 + (ceiling / 2) * r));
}
