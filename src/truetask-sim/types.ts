/**
 * The simulator's own model of the contract (/work/shared/spec/truetask-api.md).
 * Kept apart from the client's types on purpose: the simulator is the spec's
 * stand-in and must not silently follow a client change.
 */

export type SimRole = 'owner' | 'admin' | 'user';

/** A user as the API returns it (never with a password). */
export interface SimUser {
  id: string;
  email: string;
  name: string;
  role: SimRole;
  verified: boolean;
  created: string;
  updated: string;
}

export interface SimToken {
  /** Shown in the audit log instead of the token. */
  name: string;
  token: string;
  scope: 'read' | 'read_write';
  expired?: boolean;
}

export type SeedUser = Partial<SimUser> & { email: string; name: string; role: SimRole };

export interface Faults {
  /** Every Nth request (counted over all requests) is answered 429 with Retry-After. */
  rateLimit?: { every: number; retryAfterSeconds: number };
  /** Share (0..1) of requests answered 502, 503 or 504. */
  errorRate?: number;
  /** Delay before every answer. */
  latencyMs?: number;
  /**
   * Share (0..1) of requests whose socket is destroyed without an answer. For a
   * POST or PATCH, half of the drops happen AFTER the write was applied.
   */
  dropRate?: number;
}

export type AuditChange =
  | { op: 'create'; role: 'admin' | 'user'; name: string; verified: boolean }
  | { op: 'update'; role: { from: SimRole; to: SimRole } };

export interface AuditEntry {
  /** ISO timestamp. */
  at: string;
  /** The token's NAME (never the token). */
  token: string;
  method: 'POST' | 'PATCH';
  userId: string;
  email: string;
  change: AuditChange;
}

export interface FaultCounts {
  rateLimited: number;
  errors: number;
  drops: number;
  /** Drops that happened after a write was applied. */
  dropsAfterWrite: number;
}
