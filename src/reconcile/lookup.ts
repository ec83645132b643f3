/**
 * A changed-only run looks up in Truetask only the emails it needs (GET
 * /v1/users?email=, one request per distinct address) instead of listing every
 * user: for a handful of changed entries that is a handful of requests.
 */
import type { DirectoryEntry } from '../ldap/reader.ts';
import { mapWithConcurrency } from '../util/concurrency.ts';
import { emailProblem, normalizeEmail } from '../rules/email.ts';
import type { WrittenUser } from './apply.ts';
import type { ExistingUser } from './plan.ts';

/**
 * Above this many addresses a changed-only run lists every user instead (a listing
 * is one request per 500 users; a mass change in AD can touch most entries).
 */
export const MAX_LOOKUPS = 500;

export interface UserLookup {
  findUserByEmail(email: string): Promise<(WrittenUser & { name?: string }) | undefined>;
}

/** The distinct usable addresses of the entries (rule 9), normalised. */
export function emailsOf(entries: readonly DirectoryEntry[]): string[] {
  const out = new Set<string>();
  for (const e of entries) if (e.email !== undefined && emailProblem(e.email) === undefined) out.add(normalizeEmail(e.email));
  return [...out].sort();
}

/** The Truetask users with these addresses (emailsOf; a missing one is simply not there). */
export async function lookUpUsers(emails: readonly string[], truetask: UserLookup, concurrency = 4): Promise<ExistingUser[]> {
  const found: ExistingUser[] = [];
  await mapWithConcurrency(emails, concurrency, async (email) => {
    const u = await truetask.findUserByEmail(email);
    if (u) found.push({ id: u.id, email: u.email, name: u.name ?? '', role: u.role });
  });
  return found;
}
