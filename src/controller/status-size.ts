/**
 * The AdSync status stays under STATUS_MAX_BYTES (JSON, UTF-8) whatever the
 * directory holds, CJK names included: each string is clipped by bytes where it
 * is built (these caps), and boundStatus() then drops the tails of the long lists
 * (OUs, leavers, planned users), flagging them truncated, until the whole fits.
 * The lists keep their order (largest OUs first, users by email).
 */
import type { AdSyncStatus } from '../api/status.ts';
import { jsonBytes } from '../runtime/clip.ts';

/** A DN in the status (an OU, an admin group, the DC's NTDS Settings), in UTF-8 bytes. */
export const MAX_DN_BYTES = 256;
/** An email (RFC 5321 allows 254 characters). */
export const MAX_EMAIL_BYTES = 320;
/** A display name. */
export const MAX_NAME_BYTES = 256;
/** The whole status: half of the 256 KiB the spec allows the object, the rest is the spec's and metadata's. */
export const STATUS_MAX_BYTES = 128 * 1024;

interface TrimmableList {
  items: unknown[];
  /** Bytes of each item in JSON, and of the separator before it. */
  sizes: number[];
  truncate: () => void;
}

/** `status` with list tails dropped (and flagged) until its JSON is at most `maxBytes`. */
export function boundStatus(status: AdSyncStatus, maxBytes = STATUS_MAX_BYTES): AdSyncStatus {
  let total = jsonBytes(status);
  if (total <= maxBytes) return status;
  const out: AdSyncStatus = structuredClone(status);
  const lists: TrimmableList[] = [];
  const add = (items: unknown[] | undefined, truncate: () => void) => {
    if (items && items.length > 0) lists.push({ items, sizes: items.map((i) => jsonBytes(i) + 1), truncate });
  };
  const dir = out.directory;
  add(dir?.organizationalUnits, () => {
    if (dir) dir.organizationalUnitsTruncated = true;
  });
  const leavers = out.leavers;
  add(leavers?.users, () => {
    if (leavers) leavers.truncated = true;
  });
  const preview = out.preview;
  add(preview?.users, () => {
    if (preview) preview.truncated = true;
  });
  const pending = out.pendingApproval;
  add(pending?.users, () => {
    if (pending) pending.truncated = true;
  });
  // Room for the truncated flags that may be added.
  const budget = maxBytes - 128;
  while (total > budget) {
    let biggest: TrimmableList | undefined;
    let biggestBytes = 0;
    for (const l of lists) {
      const bytes = l.sizes.reduce((a, b) => a + b, 0);
      if (bytes > biggestBytes) [biggest, biggestBytes] = [l, bytes];
    }
    if (!biggest) break;
    biggest.items.pop();
    total -= biggest.sizes.pop() ?? 0;
    biggest.truncate();
  }
  return out;
}
