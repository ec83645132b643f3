/**
 * The truetask.io/sync-now value as status.lastHandledSyncNow records it. An
 * annotation can be up to 256 KiB, the status field at most 256 characters: a
 * longer value is recorded as its SHA-256 ("sha256:<hex>"), so that no value can
 * make the status write fail (which would wedge the AdSync) and a new value is
 * still told from the one handled. Idempotent (a token is its own token).
 */
import { createHash } from 'node:crypto';

/** Longest value recorded as it is (status.lastHandledSyncNow's maxLength). */
export const MAX_SYNC_NOW = 256;

export function syncNowToken(value: string): string {
  if (value.length <= MAX_SYNC_NOW) return value;
  return `sha256:${createHash('sha256').update(value).digest('hex')}`;
}
