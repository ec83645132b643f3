/**
 * What a person approves: a stable digest of a plan's changes, and a compact set
 * of per-change fingerprints so that an approved plan that AD changed since can
 * still be applied in part (only the changes that were reviewed). Pure: the same
 * changes give the same digest on any replica, in any order.
 *
 * A change is `<action> <email, lower case> <role>` (create user|admin, promote
 * admin): the name a user gets is not part of it (a renamed entry is still the
 * reviewed change).
 */
import { createHash } from 'node:crypto';
import { normalizeEmail } from '../rules/email.ts';
import type { PlannedChange } from './plan.ts';

/** Hex characters of the digest (64 bits of sha256). */
export const DIGEST_HEX = 16;
/** Above this many changes only the digest is kept: the plan is approved as a whole (about 27 KB of status at the cap). */
export const MAX_FINGERPRINTS = 5_000;
const FINGERPRINT_BYTES = 4;

export function changeKey(c: PlannedChange): string {
  return `${c.kind} ${normalizeEmail(c.email)} ${c.kind === 'create' ? c.role : 'admin'}`;
}

/** sha256 (short hex) of the sorted change keys, one per line. */
export function planDigest(changes: readonly PlannedChange[]): string {
  const keys = changes.map(changeKey).sort();
  const h = createHash('sha256');
  for (const k of keys) h.update(`${k}\n`);
  return h.digest('hex').slice(0, DIGEST_HEX);
}

function fingerprint(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0);
}

/** The changes' fingerprints (4 bytes each, sorted, base64), or undefined above MAX_FINGERPRINTS. */
export function encodeFingerprints(changes: readonly PlannedChange[]): string | undefined {
  if (changes.length > MAX_FINGERPRINTS) return undefined;
  const fps = [...new Set(changes.map((c) => fingerprint(changeKey(c))))].sort((a, b) => a - b);
  const buf = Buffer.alloc(fps.length * FINGERPRINT_BYTES);
  fps.forEach((fp, i) => buf.writeUInt32BE(fp, i * FINGERPRINT_BYTES));
  return buf.toString('base64');
}

/** Decodes encodeFingerprints' output; anything malformed decodes to an empty set (nothing approved in part). */
export function decodeFingerprints(text: string | undefined): ReadonlySet<number> {
  const out = new Set<number>();
  if (!text) return out;
  const buf = Buffer.from(text, 'base64');
  if (buf.length % FINGERPRINT_BYTES !== 0) return out;
  for (let i = 0; i < buf.length; i += FINGERPRINT_BYTES) out.add(buf.readUInt32BE(i));
  return out;
}

export function inFingerprints(c: PlannedChange, set: ReadonlySet<number>): boolean {
  return set.has(fingerprint(changeKey(c)));
}
