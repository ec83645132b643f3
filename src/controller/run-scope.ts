/**
 * Is the next run a full one or a changed-only one? A pure decision from the
 * spec, the status and what made the run due (unit-tested in
 * test/unit/run-scope.test.ts). A changed-only run is only asked for when
 * everything since the last full run is known to be in Truetask: a scheduled run
 * in Sync mode, after a run that succeeded, on the same spec, within
 * spec.fullSyncInterval of the last full run. The engine then checks the DC
 * (another one, or a USN gone back, makes it a full run too).
 */
import type { AdSyncStatus } from '../api/status.ts';
import type { ChangedSince } from '../reconcile/scope.ts';
import type { Trigger } from './schedule.ts';

export interface ScopeInput {
  mode: 'Preview' | 'Sync';
  trigger: Trigger;
  /** spec.fullSyncInterval in seconds; 0: every run is a full run. */
  fullSyncIntervalSeconds: number;
  generation: number | undefined;
  status: AdSyncStatus;
  now: number;
}

export type RunScope = { kind: 'changed'; since: ChangedSince } | { kind: 'full'; reason: string };

const triggerReasons: Record<Exclude<Trigger, 'schedule'>, string> = {
  new: 'the first run',
  spec: 'the spec changed',
  'sync-now': 'Sync Now: a run asked for by a person reads everything',
  approve: 'an approval (truetask.io/approve): a run asked for by a person reads everything',
  secret: 'a referenced Secret changed after a failed run',
  'safety-net': 'the last run failed',
  retry: 'the last run failed',
};

export function runScope(i: ScopeInput): RunScope {
  const full = (reason: string): RunScope => ({ kind: 'full', reason });
  if (i.fullSyncIntervalSeconds === 0) return full('spec.fullSyncInterval is "0": every run is a full run');
  if (i.mode === 'Preview') return full('Preview mode: every run is a full run, so the preview shows everything still to do');
  if (i.trigger !== 'schedule') return full(triggerReasons[i.trigger]);
  const s = i.status;
  if (i.generation !== undefined && i.generation !== s.observedGeneration) return full(triggerReasons.spec);
  if (s.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') return full(triggerReasons.retry);
  if (!s.server || !s.lastRun?.lastFullAt) return full('no earlier full run on record to continue from');
  const lastFull = Date.parse(s.lastRun.lastFullAt);
  if (Number.isNaN(lastFull) || i.now - lastFull >= i.fullSyncIntervalSeconds * 1000) return full('spec.fullSyncInterval has passed since the last full run');
  return { kind: 'changed', since: { dsServiceName: s.server.dsServiceName, invocationId: s.server.invocationId, highestCommittedUSN: s.server.highestCommittedUSN } };
}
