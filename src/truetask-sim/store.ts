/**
 * The simulator's state: users (ordered by created, then id), their password
 * hashes (scrypt; never returned or logged) and the append-only audit log.
 */
import { randomBytes, scrypt } from 'node:crypto';
import { isValidEmail, type CreateBody } from './validate.ts';
import { randomId } from './prng.ts';
import type { AuditEntry, SeedUser, SimRole, SimUser } from './types.ts';

export interface Store {
  /** Users in list order (created, then id). Copies. */
  list(): SimUser[];
  /** `limit` users from `offset` in list order (copies): one page without copying the rest. */
  slice(offset: number, limit: number): SimUser[];
  count(): number;
  findByEmail(email: string): SimUser | undefined;
  get(id: string): SimUser | undefined;
  /** Undefined when the email exists (any case). */
  create(body: CreateBody, tokenName: string): Promise<SimUser | undefined>;
  /** Undefined when the id is unknown. */
  setRole(id: string, role: 'admin' | 'user', tokenName: string): SimUser | undefined;
  audit(): AuditEntry[];
}

const idPattern = /^[a-z0-9]{15}$/;

/** Default scrypt cost (N) of stored password hashes: low on purpose, tests create many users. */
export const DEFAULT_PASSWORD_HASH_COST = 1024;

function hashPassword(password: string, cost: number): Promise<string> {
  const salt = randomBytes(16);
  return new Promise((resolve, reject) => {
    scrypt(password, salt, 32, { N: cost, r: 8, p: 1 }, (err, key) => {
      if (err) reject(err);
      else resolve(`scrypt$${cost}$${salt.toString('base64')}$${key.toString('base64')}`);
    });
  });
}

export function createStore(seedUsers: readonly SeedUser[], random: () => number, passwordHashCost = DEFAULT_PASSWORD_HASH_COST): Store {
  const users: SimUser[] = [];
  const byEmail = new Map<string, SimUser>();
  const byId = new Map<string, SimUser>();
  const passwordHashes = new Map<string, string>();
  const auditLog: AuditEntry[] = [];
  let lastMs = 0;

  /** A strictly increasing clock, so that list order is creation order. */
  function tick(): string {
    lastMs = Math.max(Date.now(), lastMs + 1);
    return new Date(lastMs).toISOString();
  }

  function newId(): string {
    for (;;) {
      const id = randomId(random);
      if (!byId.has(id)) return id;
    }
  }

  const order = (a: SimUser, b: SimUser) =>
    a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

  /** Binary insertion: creates arrive in order, so this is an append (100,000 users stay cheap). */
  function insert(user: SimUser): void {
    let lo = 0;
    let hi = users.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order(users[mid] as SimUser, user) <= 0) lo = mid + 1;
      else hi = mid;
    }
    users.splice(lo, 0, user);
    byEmail.set(user.email.toLowerCase(), user);
    byId.set(user.id, user);
  }

  for (const seed of seedUsers) {
    if (!isValidEmail(seed.email)) throw new Error(`seed user ${seed.email}: invalid email`);
    if (byEmail.has(seed.email.toLowerCase())) throw new Error(`seed user ${seed.email}: duplicate email`);
    if (!['owner', 'admin', 'user'].includes(seed.role)) throw new Error(`seed user ${seed.email}: invalid role`);
    if (seed.id !== undefined && (!idPattern.test(seed.id) || byId.has(seed.id))) {
      throw new Error(`seed user ${seed.email}: id must be 15 characters [a-z0-9] and unique`);
    }
    const created = seed.created ?? tick();
    if (Number.isNaN(Date.parse(created))) throw new Error(`seed user ${seed.email}: invalid created`);
    lastMs = Math.max(lastMs, Date.parse(created));
    insert({
      id: seed.id ?? newId(),
      email: seed.email,
      name: seed.name,
      role: seed.role,
      verified: seed.verified ?? true,
      created,
      updated: seed.updated ?? created,
    });
  }

  return {
    list: () => users.map((u) => ({ ...u })),
    slice: (offset, limit) => users.slice(offset, offset + limit).map((u) => ({ ...u })),
    count: () => users.length,
    findByEmail: (email) => {
      const u = byEmail.get(email.toLowerCase());
      return u ? { ...u } : undefined;
    },
    get: (id) => {
      const u = byId.get(id);
      return u ? { ...u } : undefined;
    },
    async create(body, tokenName) {
      if (byEmail.has(body.email.toLowerCase())) return undefined;
      const hash = await hashPassword(body.password, passwordHashCost);
      // Checked again: another request may have created it while we hashed.
      if (byEmail.has(body.email.toLowerCase())) return undefined;
      const now = tick();
      const user: SimUser = {
        id: newId(),
        email: body.email,
        name: body.name,
        role: body.role,
        verified: body.verified,
        created: now,
        updated: now,
      };
      insert(user);
      passwordHashes.set(user.id, hash);
      auditLog.push({
        at: now,
        token: tokenName,
        method: 'POST',
        userId: user.id,
        email: user.email,
        change: { op: 'create', role: body.role, name: body.name, verified: body.verified },
      });
      return { ...user };
    },
    setRole(id, role, tokenName) {
      const user = byId.get(id);
      if (!user) return undefined;
      const from: SimRole = user.role;
      user.role = role;
      user.updated = tick();
      auditLog.push({
        at: user.updated,
        token: tokenName,
        method: 'PATCH',
        userId: user.id,
        email: user.email,
        change: { op: 'update', role: { from, to: role } },
      });
      return { ...user };
    },
    audit: () => auditLog.map((e) => structuredClone(e)),
  };
}
