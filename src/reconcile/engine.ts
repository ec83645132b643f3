/**
 * One run of the engine, shared by the CLI and the controller: read AD, read
 * Truetask, plan, and (Sync mode only) apply. Directory reading completes before
 * anything is written; a failed read throws and nothing is written.
 */
import type { EngineConfig } from '../config/engine-config.ts';
import { AdSyncError, isAdSyncError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { checkBaseDN, readContainers, readDirectory, type ContainerInfo, type DirectoryRead } from '../ldap/reader.ts';
import { DirectorySession, type LdapConnectionConfig } from '../ldap/session.ts';
import { applyPlan, type ApplyResult, type UserWriter } from './apply.ts';
import { summarizeOUs, type OuSummary } from './ou-summary.ts';
import { plan, type ExistingUser, type Plan } from './plan.ts';

/** What a run needs from Truetask. */
export interface TruetaskPort extends UserWriter {
  listUsers(): Promise<ExistingUser[]>;
  checkAccess(): Promise<{ totalUsers: number }>;
}

export interface RunObserver {
  directoryError?(reason: string): void;
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
  /** Replaces the LDAP read (unit tests of the run's logic). */
  readAD?: (cfg: EngineConfig) => Promise<ADRead>;
}

export interface ADRead {
  read: DirectoryRead;
  containers: ContainerInfo[];
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
  startedAt: Date;
  completedAt: Date;
  directory: DirectoryReport;
  plan: Plan;
  apply?: ApplyResult & { result: SyncResult };
}

export function syncResultOf(apply: ApplyResult, planned: number): SyncResult {
  if (apply.failed === 0) return 'Succeeded';
  return apply.failed >= planned ? 'Failed' : 'PartiallyFailed';
}

async function readAD(cfg: EngineConfig, deps: EngineDeps): Promise<ADRead> {
  if (deps.readAD) return deps.readAD(cfg);
  const open = deps.openDirectory ?? ((c: LdapConnectionConfig, l: Logger) => DirectorySession.open(c, l));
  let session: DirectorySession | undefined;
  try {
    session = await open(cfg.ldap, deps.logger);
    const read = await readDirectory(session, cfg.read, deps.logger);
    const containers = deps.withContainers === false ? [] : await readContainers(session, cfg.read);
    return { read, containers };
  } catch (err) {
    if (isAdSyncError(err) && err.source === 'directory') deps.observer?.directoryError?.(err.reason);
    throw err;
  } finally {
    await session?.close();
  }
}

export async function runEngine(cfg: EngineConfig, kind: RunKind, deps: EngineDeps): Promise<RunReport> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const log = deps.logger;

  const { read, containers } = await readAD(cfg, deps);
  const existing = await deps.truetask.listUsers();

  const adminMembers = new Set<string>();
  for (const g of read.adminGroups) for (const m of g.members) adminMembers.add(m);
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
  log.info({ kind, ...thePlan.summary }, 'plan made');

  if (kind === 'preview') return { kind, startedAt, completedAt: now(), directory, plan: thePlan };

  const apply = await applyPlan(thePlan, deps.truetask, {
    concurrency: deps.concurrency ?? 4,
    logger: log,
    isConflict: deps.isConflict,
    onWrite: (k) => deps.observer?.userWritten?.(k),
    onFailure: () => deps.observer?.userFailed?.(),
  });
  const result = syncResultOf(apply, thePlan.changes.length);
  log.info({ kind, result, created: apply.created, promoted: apply.promoted, failed: apply.failed }, 'sync applied');
  return { kind, startedAt, completedAt: now(), directory, plan: thePlan, apply: { ...apply, result } };
}

export interface ConnectionCheck {
  directory: { ok: true; url: string } | { ok: false; error: AdSyncError };
  truetask: { ok: true; url: string; totalUsers: number } | { ok: false; error: AdSyncError };
}

function asAdSyncError(err: unknown, source: 'directory' | 'truetask'): AdSyncError {
  if (isAdSyncError(err)) return err;
  return new AdSyncError(source, source === 'directory' ? 'DirectoryError' : 'TruetaskError', 'retry', err instanceof Error ? err.message : String(err));
}

/** Test Connection: bind and check the base DN; prove the Truetask URL and token. */
export async function testConnection(cfg: EngineConfig, deps: Pick<EngineDeps, 'logger' | 'truetask' | 'openDirectory'>): Promise<ConnectionCheck> {
  const open = deps.openDirectory ?? ((c: LdapConnectionConfig, l: Logger) => DirectorySession.open(c, l));
  const directory = await (async (): Promise<ConnectionCheck['directory']> => {
    let session: DirectorySession | undefined;
    try {
      session = await open(cfg.ldap, deps.logger);
      await checkBaseDN(session, cfg.read.baseDN);
      return { ok: true, url: cfg.ldap.url };
    } catch (err) {
      return { ok: false, error: asAdSyncError(err, 'directory') };
    } finally {
      await session?.close();
    }
  })();
  const truetask = await deps.truetask.checkAccess().then(
    (r): ConnectionCheck['truetask'] => ({ ok: true, url: cfg.truetask.url, totalUsers: r.totalUsers }),
    (err: unknown): ConnectionCheck['truetask'] => ({ ok: false, error: asAdSyncError(err, 'truetask') }),
  );
  return { directory, truetask };
}
