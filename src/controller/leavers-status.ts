/**
 * status.leavers (pure): refreshed by full runs only, bounded to the first
 * MAX_LEAVERS users, and kept with stale: true when a full run fails, so a
 * failed or partial read never changes the report.
 */
import { MAX_LEAVERS, type LeaversStatus } from '../api/status.ts';
import type { LeaversReport } from '../reconcile/leavers.ts';
import { clipBytes as clip } from '../runtime/clip.ts';
import { MAX_EMAIL_BYTES, MAX_NAME_BYTES } from './status-size.ts';

/** The report of a full run that succeeded. */
export function leaversStatus(report: LeaversReport, generatedAt: string): LeaversStatus {
  return {
    generatedAt,
    disabled: report.disabled,
    notInDirectory: report.notInDirectory,
    users: report.users.slice(0, MAX_LEAVERS).map((u) => ({ email: clip(u.email, MAX_EMAIL_BYTES), name: clip(u.name, MAX_NAME_BYTES), role: u.role, reason: u.reason })),
    truncated: report.users.length > MAX_LEAVERS,
    stale: false,
  };
}

/**
 * After a run: a new report when the run made one, else the previous one
 * unchanged (a run that reads only what changed cannot say who left).
 */
export function leaversAfterRun(previous: LeaversStatus | undefined, report: LeaversReport | undefined, generatedAt: string): LeaversStatus | undefined {
  return report ? leaversStatus(report, generatedAt) : previous;
}

/** After a full run that failed: the previous report, marked stale (none stays none). */
export function leaversAfterFailure(previous: LeaversStatus | undefined, full = true): LeaversStatus | undefined {
  return previous && full ? { ...previous, stale: true } : previous;
}

/** The counts the truetask_adsync_leavers gauge exports. */
export function leaverCounts(status: LeaversStatus): { Disabled: number; NotInDirectory: number } {
  return { Disabled: status.disabled, NotInDirectory: status.notInDirectory };
}
