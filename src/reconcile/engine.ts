/**
 * One run of the engine, shared by the CLI and the controller: read AD, read
 * Truetask, plan, and (Sync mode only) apply. Directory reading completes before
 * anything is written; a failed read throws and nothing is written.
 */
import type { EngineConfig } from '../config/engine-config.ts';
import { AdSyncError, isAdSyncError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { readDisabledAccounts, type DisabledAccounts } from '../ldap/disabled-accounts.ts';
import { checkBaseDN, readContainers, readDirectory, type ContainerInfo, type DirectoryRead } from '../ldap/reader.ts';
import { serversOf, withFailover, type FailedOver } from '../ldap/failover.ts';
import { readChanges } from '../ldap/changed.ts';
import { readServerIdentity, type ServerIdentity } from '../ldap/server-identity.ts';
import { DirectorySession, type LdapConnectionConfig } from '../ldap/session.ts';
import { applyPlan, type ApplyResult, type UserWriter } from './apply.ts';
import { findLeavers, type LeaversReport } from './leavers.ts';
import { emailsOf, lookUpUsers, MAX_LOOKUPS } from './lookup.ts';
import { changedRunOn, type ChangedSince } from './scope.ts';
import { summarizeOUs, type OuSummary } from './ou-summary.ts';
import { plan, type ExistingUser, type Plan } from './plan.ts';
import type { GateResult } from './safeguard.ts';

/** What a run needs from Truetask. */
export interface TruetaskPort extends UserWriter {
  listUsers(): Promise<ExistingUser[]>;
  checkAccess(): Promise<{ totalUsers: number }>;
}

export interface RunObserver {
  directoryError?(reason: string): void;
  /** The DC that answered, as soon as it is known (a run that fails later still names it). */
  serverIdentified?(server: ServerIdentity): void;
  userWritten?(kind: 'create' | 'promote'): void;
  userFailed?(): void;
}

export interface EngineDeps {
  logger: Logger;
  truetask: TruetaskPort;
  isConflict: (err: unknown) => boolean;
  openDirectory?: (cfg: LdapConnectionConfig, logger: Logger) => Promise<DirectorySession>;
  now?: () => Date;
  concurrency?: number;
  observer?: RunObserver;
  /** Also list OUs/containers with counts (status and Discover OUs). Default true. */
  withContainers?: boolean;
  /** Also report leavers (full runs only): one more LDAP search, for disabled accounts. Default true. */
  withLeavers?: boolean;
  /** Replaces the LDAP read (unit tests of the run's logic). */
  readAD?: (cfg: EngineConfig) => Promise<ADRead>;
  /**
   * Read only what changed since this DC's USN (a changed-only run). The run is a
   * full one anyway when the DC that answers is another one or its USN went back.
   */
  changedSince?: ChangedSince;
  /**
   * Sync mode: what the run may write (the create safeguard, src/reconcile/safeguard.ts).
   * Held changes are not written; when every change is held nothing is.
   */
  gate?: (plan: Plan, full: boolean) => GateResult;
  /**
   * Cancels the run (e.g. this replica stopped leading): LDAP connections close,
   * Truetask requests in flight are aborted (the Truetask port is given the same
   * signal), no further change is applied, and runEngine throws the signal's reason.
   */
  signal?: AbortSignal;
}

export interface ADRead {
  read: DirectoryRead;
  containers: ContainerInfo[];
  /** Read when the run reports leavers. */
  disabled?: DisabledAccounts;
  /** The DC that answered (read at the start of the read). */
  server?: ServerIdentity;
  /** DCs tried before it that did not answer. */
  failedOver?: FailedOver[];
  /** A changed-only read: only changed entries are in `read`; these of them are admins. */
  changed?: { adminMembers: Set<string>; sinceUSN: number; changedUsers: number; changedGroups: number };
  /** Why a changed-only run was asked for but the run read everything. */
  fullReason?: string;
}

export interface AdminGroupReport {
  ref: string;
  dn?: string;
  found: boolean;
  members: number;
}

export interface DirectoryReport {
  users: number;
  excluded: number;
  skipped: number;
  organizationalUnits: OuSummary[];
  adminGroups: AdminGroupReport[];
}

export type RunKind = 'preview' | 'sync';
export type SyncResult = 'Succeeded' | 'PartiallyFailed' | 'Failed';

export interface RunReport {
  kind: RunKind;
  /** The run read the whole directory; false: a changed-only run (uSNChanged). Only full runs report leavers. */
  full: boolean;
  /** Directory entries the run read: every entry the filter matched (full), or the changed ones and the members of changed admin groups (changed-only). */
  entriesRead?: number;
  /** A changed-only run was asked for, but this full run was needed instead (another DC, the USN went back). */
  fullReason?: string;
  startedAt: Date;
  completedAt: Date;
  directory: DirectoryReport;
  plan: Plan;
  apply?: ApplyResult & { result: SyncResult };
  /** Full runs (unless withLeavers is false): Truetask users disabled in AD or gone from it. Read-only. */
  leavers?: LeaversReport;
  /** The DC that answered, with its identity and highestCommittedUSN at the start of the read. */
  server?: ServerIdentity;
  /** DCs tried first that did not answer (spec.ldap.failover); empty or absent when the first one answered. */
  failedOver?: FailedOver[];
  /** Sync mode with a gate: what the safeguard held (no `apply` when everything was held) and the approval used. */
  gate?: GateResult;
}

export function syncResultOf(apply: ApplyResult, planned: number): SyncResult {
  if (apply.failed === 0) return 'Succeeded';
  return apply.failed >= planned ? 'Failed' : 'PartiallyFailed';
}

/**
 * `onFullRead` is called (possibly once per DC tried) as soon as the run is known to
 * read the whole directory, before the directory is read.
 */
async function readAD(cfg: EngineConfig, deps: EngineDeps, onFullRead: () => unknown): Promise<ADRead> {
  if (deps.readAD) return deps.readAD(cfg);
  const open = deps.openDirectory ?? ((c: LdapConnectionConfig, l: Logger) => DirectorySession.open(c, l, deps.signal));
  try {
    const { value, failedOver } = await withFailover(cfg.ldap, deps.logger, open, async (session): Promise<ADRead> => {
      // First: the USN read now is where the next changed-only run starts, so what changes during this read is read again.
      const server = await readServerIdentity(session);
      deps.observer?.serverIdentified?.(server);
      const scope = deps.changedSince ? changedRunOn(deps.changedSince, server) : undefined;
      if (deps.changedSince && scope?.changed) {
        const since = deps.changedSince.highestCommittedUSN;
        const c = await readChanges(session, cfg.read, since, deps.logger);
        return { read: { entries: c.entries, adminGroups: c.adminGroups }, containers: [], server, changed: { adminMembers: c.adminMembers, sinceUSN: since, changedUsers: c.changedUsers, changedGroups: c.changedGroups } };
      }
      const fullReason = scope && !scope.changed ? { fullReason: scope.reason } : {};
      void onFullRead();
      const withLeavers = deps.withLeavers !== false;
      const read = await readDirectory(session, cfg.read, deps.logger);
      const containers = deps.withContainers === false ? [] : await readContainers(session, cfg.read);
      if (!withLeavers) return { read, containers, server, ...fullReason };
      const disabled = await readDisabledAccounts(session, cfg.read, cfg.excludedOUs);
      return { read, containers, disabled, server, ...fullReason };
    });
    for (const f of failedOver) deps.observer?.directoryError?.(f.reason);
    return { ...value, failedOver };
  } catch (err) {
    if (isAdSyncError(err) && err.source === 'directory') deps.observer?.directoryError?.(err.reason);
    throw err;
  }
}

export async function runEngine(cfg: EngineConfig, kind: RunKind, deps: EngineDeps): Promise<RunReport> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const log = deps.logger;

  // A full run lists every Truetask user (leavers need them too). The listing is a read, so it
  // runs while the DC answers the users search instead of after it (at 100,000 users it takes
  // ~2 s of a ~60 s preview). Nothing is written before both reads are done, and a failed
  // directory read is what the run reports: the listing's own failure is awaited only after it.
  let listing: Promise<ExistingUser[]> | undefined;
  const startListing = (): Promise<ExistingUser[]> => {
    if (!listing) {
      // async: a port that refuses at once (the run's deadline passed) rejects rather than throws into the read
      listing = (async () => deps.truetask.listUsers())();
      listing.catch(() => undefined); // awaited below, or left behind by a failed directory read
    }
    return listing;
  };
  const { read, containers, disabled, server, failedOver = [], changed, fullReason } = await readAD(cfg, deps, startListing);
  deps.signal?.throwIfAborted();
  if (failedOver.length > 0) log.warn({ used: server?.url, failedOver }, 'failed over to another domain controller');
  const full = changed === undefined;
  if (fullReason) log.info({ reason: fullReason }, 'a full run instead of a changed-only one');
  // A changed-only run looks up only the emails it read (unless so many changed that one listing costs fewer
  // requests); a full run uses the listing started with the directory read.
  const emails = full ? [] : emailsOf(read.entries);
  const lookUp = !full && emails.length <= MAX_LOOKUPS;
  const existing = lookUp ? await lookUpUsers(emails, deps.truetask, deps.concurrency ?? 4) : await startListing();
  deps.signal?.throwIfAborted();

  const adminMembers = changed ? changed.adminMembers : new Set<string>();
  if (!changed) for (const g of read.adminGroups) for (const m of g.members) adminMembers.add(m);
  const thePlan = plan({
    entries: read.entries,
    adminMembers,
    excludedOUs: cfg.excludedOUs,
    existing,
    promotion: cfg.read.adminPromotion.enabled,
    emailAttribute: cfg.read.emailAttribute,
  });
  const directory: DirectoryReport = {
    users: thePlan.summary.directoryUsers,
    excluded: thePlan.summary.excluded,
    skipped: thePlan.summary.skipped,
    organizationalUnits: summarizeOUs(containers, read.entries, cfg.excludedOUs),
    adminGroups: read.adminGroups.map((g) => ({ ref: g.ref, ...(g.dn ? { dn: g.dn } : {}), found: g.found, members: g.members.size })),
  };
  log.info({ kind, full, entriesRead: read.entries.length, ...(changed ? { sinceUSN: changed.sinceUSN, changedUsers: changed.changedUsers, changedGroups: changed.changedGroups } : {}), ...thePlan.summary }, 'plan made');
  // Computed from the listing made before any write: creates and promotions never change who is a leaver.
  const leavers = full && deps.withLeavers !== false && disabled ? reportLeavers(thePlan, disabled, existing, log) : undefined;
  const base = {
    kind,
    full,
    entriesRead: read.entries.length,
    startedAt,
    directory,
    plan: thePlan,
    failedOver,
    ...(fullReason ? { fullReason } : {}),
    ...(leavers ? { leavers } : {}),
    ...(server ? { server } : {}),
  };

  if (kind === 'preview') return { ...base, completedAt: now() };

  // The create safeguard: a plan that exceeds it (and was not approved) writes nothing.
  const gated = deps.gate?.(thePlan, full);
  if (gated?.held && gated.apply.length === 0) {
    log.warn({ kind, held: gated.held.changes.length, digest: gated.held.digest, allowedCreates: gated.held.verdict.allowedCreates }, 'plan held for approval: nothing written');
    return { ...base, completedAt: now(), gate: gated };
  }
  const toApply: Plan = gated ? { ...thePlan, changes: gated.apply } : thePlan;
  const apply = await applyPlan(toApply, deps.truetask, {
    concurrency: deps.concurrency ?? 4,
    logger: log,
    isConflict: deps.isConflict,
    onWrite: (k) => deps.observer?.userWritten?.(k),
    onFailure: () => deps.observer?.userFailed?.(),
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  const result = syncResultOf(apply, toApply.changes.length);
  log.info({ kind, result, created: apply.created, promoted: apply.promoted, failed: apply.failed, ...(gated?.held ? { held: gated.held.changes.length } : {}) }, 'sync applied');
  return { ...base, completedAt: now(), apply: { ...apply, result }, ...(gated ? { gate: gated } : {}) };
}

function reportLeavers(thePlan: Plan, disabled: DisabledAccounts, existing: readonly ExistingUser[], log: Logger): LeaversReport {
  const leavers = findLeavers({ matched: thePlan.rows.map((r) => ({ email: r.email, excluded: r.action === 'exclude' })), disabled, existing });
  log.info({ disabled: leavers.disabled, notInDirectory: leavers.notInDirectory, disabledAccounts: disabled.entries, ownedDomains: leavers.ownedDomains.slice(0, 20) }, 'leavers reported');
  return leavers;
}

export type DirectoryCheck = { ok: true; url: string } | { ok: false; url: string; error: AdSyncError };

export interface ConnectionCheck {
  /** spec.ldap.url. */
  directory: DirectoryCheck;
  /** Each spec.ldap.failover DC, in order (each checked on its own). */
  failover: DirectoryCheck[];
  truetask: { ok: true; url: string; totalUsers: number } | { ok: false; error: AdSyncError };
}

/** Bind refusals about the account itself: the same on every DC of the domain. */
const BIND_REFUSED = new Set(['InvalidCredentials', 'AccountDisabled', 'AccountLocked', 'AccountExpired', 'PasswordExpired']);

function asAdSyncError(err: unknown, source: 'directory' | 'truetask'): AdSyncError {
  if (isAdSyncError(err)) return err;
  return new AdSyncError(source, source === 'directory' ? 'DirectoryError' : 'TruetaskError', 'retry', err instanceof Error ? err.message : String(err));
}

/**
 * Test Connection: bind to each DC (spec.ldap.url, then each failover DC) and check
 * the base DN; prove the Truetask URL and token. A DC that refuses the bind
 * (credentials, account state) is not asked again: the others would only add bad
 * binds against the lockout policy, so they are reported as not checked.
 */
export async function testConnection(cfg: EngineConfig, deps: Pick<EngineDeps, 'logger' | 'truetask' | 'openDirectory'>): Promise<ConnectionCheck> {
  const open = deps.openDirectory ?? ((c: LdapConnectionConfig, l: Logger) => DirectorySession.open(c, l));
  const checks: DirectoryCheck[] = [];
  let refused: AdSyncError | undefined;
  for (const server of serversOf(cfg.ldap)) {
    if (refused) {
      checks.push({ ok: false, url: server.url, error: new AdSyncError('directory', refused.reason, refused.next, `Not checked: ${refused.reason} from an earlier DC (each bind with a wrong password counts towards the account's lockout)`, { hint: refused.hint ?? '' }) });
      continue;
    }
    let session: DirectorySession | undefined;
    try {
      session = await open(server, deps.logger);
      await checkBaseDN(session, cfg.read.baseDN);
      checks.push({ ok: true, url: server.url });
    } catch (err) {
      const error = asAdSyncError(err, 'directory');
      if (error.next === 'fix-config' && BIND_REFUSED.has(error.reason)) refused = error;
      checks.push({ ok: false, url: server.url, error });
    } finally {
      await session?.close();
    }
  }
  const [directory, ...failover] = checks as [DirectoryCheck, ...DirectoryCheck[]];
  const truetask = await deps.truetask.checkAccess().then(
    (r): ConnectionCheck['truetask'] => ({ ok: true, url: cfg.truetask.url, totalUsers: r.totalUsers }),
    (err: unknown): ConnectionCheck['truetask'] => ({ ok: false, error: asAdSyncError(err, 'truetask') }),
  );
  return { directory, failover, truetask };
}
