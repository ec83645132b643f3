/**
 * The create safeguard (spec.safeguard): a Sync run whose plan creates more users
 * than a person would expect waits for that person. Pure decisions, next to the
 * planner:
 *
 *  - checkSafeguard: does a number of creates exceed the limits? `maxCreates`
 *    caps the creates of one run; `maxGrowthPercent` caps them relative to the
 *    Truetask users the directory's scope already has (the users a full run finds
 *    unchanged or to promote), but never below `growthFloor` creates, so a small
 *    directory can grow by a few hires without a person. 0 turns a limit off.
 *    Into an empty Truetask (the first sync of a new AdSync) the growth limit is
 *    the floor: a directory bigger than that starts with Preview -> review -> approve.
 *  - gate: what a Sync run may write, given the plan and, when a person approved
 *    a held plan, that plan's digest and fingerprints. The approved plan's changes
 *    that are still in the plan are applied; the others (AD changed since) are
 *    applied only when they alone stay within the safeguard; otherwise they are
 *    held for a new approval.
 *
 * Promotions are never counted against the limits, but a held plan holds them
 * too (nothing is written), and the digest covers them.
 */
import { decodeFingerprints, encodeFingerprints, inFingerprints, planDigest } from './digest.ts';
import type { PlannedChange } from './plan.ts';

export interface SafeguardLimits {
  /** Creates per run without approval; 0: no limit. */
  maxCreates: number;
  /** Growth per run in percent of the Truetask users in scope; 0: no limit. */
  maxGrowthPercent: number;
  /** The growth limit is never below this many creates. */
  growthFloor: number;
}

export const DEFAULT_SAFEGUARD: SafeguardLimits = { maxCreates: 500, maxGrowthPercent: 10, growthFloor: 10 };

export interface SafeguardVerdict {
  exceeded: boolean;
  creates: number;
  /** Truetask users the directory's scope already has (the growth base). */
  inScope: number;
  /** The most creates a run may make without approval; undefined: no limit. */
  allowedCreates: number | undefined;
  /** Which limit decides: the smaller one. */
  limitedBy: 'maxCreates' | 'maxGrowthPercent' | undefined;
  /** For people: why (or that the plan is within the safeguard). */
  message: string;
}

export function checkSafeguard(limits: SafeguardLimits, creates: number, inScope: number): SafeguardVerdict {
  const byCount = limits.maxCreates > 0 ? limits.maxCreates : undefined;
  const byGrowth = limits.maxGrowthPercent > 0 ? Math.max(limits.growthFloor, Math.floor((inScope * limits.maxGrowthPercent) / 100)) : undefined;
  let allowed: number | undefined;
  let limitedBy: SafeguardVerdict['limitedBy'];
  if (byCount !== undefined) {
    allowed = byCount;
    limitedBy = 'maxCreates';
  }
  if (byGrowth !== undefined && (allowed === undefined || byGrowth < allowed)) {
    allowed = byGrowth;
    limitedBy = 'maxGrowthPercent';
  }
  const exceeded = allowed !== undefined && creates > allowed;
  const why =
    limitedBy === 'maxCreates'
      ? `spec.safeguard.maxCreates is ${limits.maxCreates}`
      : limitedBy === 'maxGrowthPercent'
        ? `spec.safeguard.maxGrowthPercent is ${limits.maxGrowthPercent}% of the ${inScope} Truetask users the directory already has (at least ${limits.growthFloor}: spec.safeguard.growthFloor)`
        : 'spec.safeguard is off';
  const message = exceeded
    ? `${creates} users to create exceed the safeguard: at most ${allowed} per run without approval (${why})`
    : `${creates} users to create are within the safeguard (${allowed === undefined ? why : `at most ${allowed}: ${why}`})`;
  return { exceeded, creates, inScope, allowedCreates: allowed, limitedBy, message };
}

/** A held plan a person approved: its digest and, up to MAX_FINGERPRINTS changes, their fingerprints. */
export interface Approved {
  digest: string;
  fingerprints?: string | undefined;
}

export interface Held {
  changes: PlannedChange[];
  digest: string;
  /** undefined above MAX_FINGERPRINTS changes. */
  fingerprints: string | undefined;
  verdict: SafeguardVerdict;
}

export interface GateResult {
  /** What the run writes (a subset of the plan's changes, in the plan's order). */
  apply: PlannedChange[];
  /** Set when some (or all) changes wait for approval. */
  held?: Held;
  /** Set when an approval was used: how many of the applied changes it covered, and whether the plan was exactly the approved one. */
  approval?: { digest: string; exact: boolean; approvedChanges: number; newChanges: number };
}

const createsIn = (changes: readonly PlannedChange[]): number => changes.reduce((n, c) => n + (c.kind === 'create' ? 1 : 0), 0);

function hold(changes: PlannedChange[], verdict: SafeguardVerdict): Held {
  return { changes, digest: planDigest(changes), fingerprints: encodeFingerprints(changes), verdict };
}

export function gate(input: { changes: readonly PlannedChange[]; inScope: number; limits: SafeguardLimits; approved?: Approved | undefined }): GateResult {
  const { changes, inScope, limits, approved } = input;
  if (approved) {
    if (planDigest(changes) === approved.digest) return { apply: [...changes], approval: { digest: approved.digest, exact: true, approvedChanges: changes.length, newChanges: 0 } };
    const set = decodeFingerprints(approved.fingerprints);
    const reviewed: PlannedChange[] = [];
    const rest: PlannedChange[] = [];
    for (const c of changes) (inFingerprints(c, set) ? reviewed : rest).push(c);
    const verdict = checkSafeguard(limits, createsIn(rest), inScope);
    const approval = { digest: approved.digest, exact: false, approvedChanges: reviewed.length, newChanges: rest.length };
    if (!verdict.exceeded) return { apply: [...changes], approval };
    return { apply: reviewed, held: hold(rest, verdict), approval: { ...approval, newChanges: 0 } };
  }
  const verdict = checkSafeguard(limits, createsIn(changes), inScope);
  if (!verdict.exceeded) return { apply: [...changes] };
  return { apply: [], held: hold([...changes], verdict) };
}
