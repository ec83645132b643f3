/**
 * metav1.Condition helpers, for any kind: set conditions keeping
 * lastTransitionTime unless a condition's status changes (what kstatus, Flux and
 * Argo CD expect), remove them, keep them in a stable order, and clip messages
 * by bytes. Knows nothing of the kinds that use it.
 */
import { clipBytes } from './clip.ts';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number | undefined;
}

export interface ConditionUpdate<T extends string = string> {
  type: T;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface ConditionOptions {
  /** Condition types in the order they are listed; others go last. */
  order?: readonly string[];
  /** Messages are clipped to this many UTF-8 bytes (default 32768, metav1.Condition's limit). */
  maxMessageBytes?: number;
}

/** RFC 3339 with whole seconds, as metav1.Time is serialised. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Sets conditions, moving lastTransitionTime only when a condition's status changes. */
export function setConditions<C extends Condition>(
  previous: readonly C[] | undefined,
  updates: readonly ConditionUpdate[],
  generation: number | undefined,
  now: Date,
  options: ConditionOptions = {},
): Condition[] {
  const out: Condition[] = [...(previous ?? [])];
  for (const u of updates) {
    const i = out.findIndex((c) => c.type === u.type);
    const old = i >= 0 ? out[i] : undefined;
    const next: Condition = {
      type: u.type,
      status: u.status,
      reason: u.reason,
      message: clipBytes(u.message, options.maxMessageBytes ?? 32_768),
      lastTransitionTime: old && old.status === u.status ? old.lastTransitionTime : rfc3339(now),
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    };
    if (i >= 0) out[i] = next;
    else out.push(next);
  }
  return sortConditions(out, options.order ?? []);
}

/** Removes conditions of the given types. */
export function removeConditions<C extends Condition>(previous: readonly C[] | undefined, types: readonly string[]): C[] {
  return (previous ?? []).filter((c) => !types.includes(c.type));
}

function sortConditions<C extends Condition>(list: C[], order: readonly string[]): C[] {
  const rank = (t: string) => {
    const i = order.indexOf(t);
    return i < 0 ? order.length : i;
  };
  return list.sort((a, b) => rank(a.type) - rank(b.type));
}
