/**
 * The planner: a pure function from what AD and Truetask hold to the changes a
 * sync makes (rules 1-5 and 8-11 of the spec). It never plans a downgrade, never
 * touches an owner, and planning again after applying a plan yields no change.
 */
import { isWithinKey, parseDn, type Dn } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/reader.ts';
import { emailProblem, normalizeEmail } from './email.ts';
import { displayNameOf } from './names.ts';

export type Role = 'owner' | 'admin' | 'user';

export interface ExistingUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface PlanInput {
  entries: readonly DirectoryEntry[];
  /** DN keys of entries that are admin-group members (ignored unless promotion is on). */
  adminMembers: ReadonlySet<string>;
  excludedOUs: readonly Dn[];
  existing: readonly ExistingUser[];
  promotion: boolean;
  emailAttribute: string;
}

export type RowAction = 'create' | 'promote' | 'unchanged' | 'skip' | 'exclude';

/** One row per directory entry the filter matched. */
export interface PlanRow {
  dn: string;
  email: string | null;
  name: string;
  role: 'admin' | 'user' | 'owner' | null;
  action: RowAction;
  reason: string;
}

export type PlannedChange =
  | { kind: 'create'; email: string; name: string; role: 'admin' | 'user'; dns: string[] }
  | { kind: 'promote'; email: string; name: string; userId: string; dns: string[] };

export interface PlanSummary {
  directoryUsers: number;
  excluded: number;
  skipped: number;
  toCreate: number;
  toPromote: number;
  unchanged: number;
}

export interface Plan {
  rows: PlanRow[];
  /** Sorted by email. */
  changes: PlannedChange[];
  summary: PlanSummary;
}

const rank: Record<Role, number> = { user: 0, admin: 1, owner: 2 };

interface Candidate {
  entry: DirectoryEntry;
  email: string;
  name: string;
  admin: boolean;
}

export function plan(input: PlanInput): Plan {
  const rows: PlanRow[] = [];
  const byEmail = new Map<string, Candidate[]>();
  let excluded = 0;
  let skipped = 0;

  const sorted = [...input.entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const entry of sorted) {
    const fallbackName = entry.cn ?? entry.dn;
    const excludedBy = input.excludedOUs.find((ou) => isWithinKey(entry.key, ou.key));
    if (excludedBy) {
      excluded++;
      rows.push({ dn: entry.dn, email: entry.email?.trim() ?? null, name: displayNameOf(entry, fallbackName), role: null, action: 'exclude', reason: 'in an excluded OU' });
      continue;
    }
    const raw = entry.email;
    const problem = raw === undefined ? `no ${input.emailAttribute}` : emailProblem(raw);
    if (raw === undefined || problem !== undefined) {
      skipped++;
      rows.push({
        dn: entry.dn,
        email: raw?.trim() ?? null,
        name: displayNameOf(entry, fallbackName),
        role: null,
        action: 'skip',
        reason: raw === undefined ? `no ${input.emailAttribute}` : `invalid ${input.emailAttribute} "${raw.trim()}": ${problem}`,
      });
      continue;
    }
    const email = raw.trim();
    const candidate: Candidate = {
      entry,
      email,
      name: displayNameOf(entry, email),
      admin: input.promotion && input.adminMembers.has(entry.key),
    };
    const key = normalizeEmail(email);
    const group = byEmail.get(key);
    if (group) group.push(candidate);
    else byEmail.set(key, [candidate]);
  }

  const existingByEmail = new Map<string, ExistingUser>();
  for (const u of input.existing) existingByEmail.set(normalizeEmail(u.email), u);

  const changes: PlannedChange[] = [];
  let toCreate = 0;
  let toPromote = 0;
  let unchanged = 0;
  let directoryUsers = 0;

  for (const [key, group] of byEmail) {
    const [first] = group;
    if (!first) continue;
    directoryUsers += group.length;
    const wantAdmin = group.some((c) => c.admin);
    const desired: 'admin' | 'user' = wantAdmin ? 'admin' : 'user';
    const dns = group.map((c) => c.entry.dn);
    const current = existingByEmail.get(key);
    let action: RowAction;
    let role: PlanRow['role'];
    let reason: string;

    if (!current) {
      action = 'create';
      role = desired;
      reason = wantAdmin ? 'new user; member of an admin group' : 'new user';
      changes.push({ kind: 'create', email: first.email, name: first.name, role: desired, dns });
      toCreate++;
    } else if (rank[desired] > rank[current.role]) {
      action = 'promote';
      role = 'admin';
      reason = `exists as ${current.role}; member of an admin group`;
      changes.push({ kind: 'promote', email: current.email, name: current.name, userId: current.id, dns });
      toPromote++;
    } else {
      action = 'unchanged';
      role = current.role;
      reason =
        rank[current.role] > rank[desired]
          ? `exists as ${current.role}; roles are never downgraded`
          : `exists as ${current.role}`;
      unchanged++;
    }
    group.forEach((c, i) => {
      const dupReason = i > 0 ? `; same email as ${first.entry.dn}, one Truetask user` : '';
      rows.push({ dn: c.entry.dn, email: c.email, name: c.name, role, action, reason: reason + dupReason });
    });
  }

  changes.sort((a, b) => compareEmail(a.email, b.email));
  rows.sort((a, b) => compareEmail(a.email ?? '', b.email ?? '') || (a.dn < b.dn ? -1 : a.dn > b.dn ? 1 : 0));
  return { rows, changes, summary: { directoryUsers, excluded, skipped, toCreate, toPromote, unchanged } };
}

function compareEmail(a: string, b: string): number {
  const x = normalizeEmail(a);
  const y = normalizeEmail(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Parses spec.excludedOUs; a value that is not a DN is a spec error for the caller to report. */
export function parseExcludedOUs(values: readonly string[]): Dn[] {
  return values.map((v) => parseDn(v));
}
