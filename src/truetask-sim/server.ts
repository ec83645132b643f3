/**
 * The project's Truetask simulator: the members API contract, strictly, over real
 * HTTP(S), with switchable faults (rate limits, 5xx, latency, dropped connections)
 * drawn from a seeded PRNG so that a failing test can be replayed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import { mulberry32 } from './prng.ts';
import { createStore } from './store.ts';
import type { AuditEntry, FaultCounts, Faults, SeedUser, SimToken, SimUser } from './types.ts';
import { validateCreateBody, validateListQuery, validatePatchBody, type Fields } from './validate.ts';

export type { AuditEntry, FaultCounts, Faults, SeedUser, SimToken, SimUser } from './types.ts';

export interface CreateAttempt {
  /** ISO timestamp. */
  at: string;
  /** The email of the body, when it had one. */
  email: string | undefined;
  /** The answer's status, or "dropped". */
  status: number | 'dropped';
}

/** One request as it arrived (before any latency or fault), for tests that tell clients apart. */
export interface ReceivedRequest {
  /** Date.now() when the request's headers arrived. */
  at: number;
  method: string;
  /** Path without the query. */
  path: string;
  /** The User-Agent header ('' when absent). */
  userAgent: string;
}

export const MAX_BODY_BYTES = 64 * 1024;
/** Beyond this the simulator stops reading and drops the connection. */
const HARD_BODY_LIMIT = 8 * 1024 * 1024;

export interface TruetaskSimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  tokens: SimToken[];
  /** Users present at start, e.g. the owner. */
  users?: SeedUser[];
  faults?: Faults;
  /** Seed of the PRNG that draws faults and ids (default 1). */
  seed?: number;
  /** Serve HTTPS with this PEM key and certificate. */
  tls?: { key: string; cert: string };
  /** Request log (method, path, status, token name; never bodies or tokens). */
  logger?: Logger;
  /**
   * scrypt cost N (a power of two >= 2) of the password hashes the simulator stores
   * (default 1024). Benchmarks lower it to measure the client, not the hashing.
   */
  passwordHashCost?: number;
}

export interface TruetaskSimulator {
  /** Base URL, e.g. http://127.0.0.1:PORT; the API is at <url>/v1/. */
  readonly url: string;
  readonly port: number;
  setFaults(faults: Faults): void;
  /** Snapshot of the users in list order (no passwords, ever). */
  users(): SimUser[];
  /** Snapshot of the audit log, oldest first. */
  audit(): AuditEntry[];
  /** Requests received in all, or for one method. */
  requests(method?: string): number;
  /**
   * Every POST /v1/users that reached the simulator, oldest first, whatever its
   * answer (201, 409, a fault): the create attempts, not only the users stored.
   */
  createAttempts(): CreateAttempt[];
  /** Every request received, oldest first (when, method, path, User-Agent; nothing else of it). */
  received(): ReceivedRequest[];
  /** How many faults were injected so far. */
  faultCounts(): FaultCounts;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** A write was applied (a drop may then happen after it). */
  wrote?: boolean;
}

const errorAnswer = (status: number, error: string, message: string, fields?: Fields): Answer => ({
  status,
  body: fields && Object.keys(fields).length > 0 ? { error, message, fields } : { error, message },
});

function validateFaults(f: Faults): Faults {
  const rate = (name: string, v: number | undefined) => {
    if (v !== undefined && !(v >= 0 && v <= 1)) throw new Error(`faults.${name} must be within 0..1`);
  };
  rate('errorRate', f.errorRate);
  rate('dropRate', f.dropRate);
  if (f.latencyMs !== undefined && !(f.latencyMs >= 0)) throw new Error('faults.latencyMs must be >= 0');
  if (f.rateLimit !== undefined) {
    if (!Number.isInteger(f.rateLimit.every) || f.rateLimit.every < 1) throw new Error('faults.rateLimit.every must be an integer >= 1');
    if (!(f.rateLimit.retryAfterSeconds >= 0)) throw new Error('faults.rateLimit.retryAfterSeconds must be >= 0');
  }
  return structuredClone(f);
}

/** The `email` of a JSON body, if any (never anything else of it: the body holds a password). */
function emailOf(text: string): string | undefined {
  try {
    const email = (JSON.parse(text) as { email?: unknown } | null)?.email;
    return typeof email === 'string' ? email : undefined;
  } catch {
    return undefined;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function readBody(req: IncomingMessage): Promise<{ text: string; tooLarge: boolean; aborted: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > HARD_BODY_LIMIT) {
      resolve({ text: '', tooLarge: true, aborted: false });
      return;
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      if (size > HARD_BODY_LIMIT) {
        req.socket.destroy();
        resolve({ text: '', tooLarge: true, aborted: true });
      }
    });
    req.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), tooLarge: size > MAX_BODY_BYTES, aborted: false }));
    req.on('error', () => resolve({ text: '', tooLarge: false, aborted: true }));
    req.on('close', () => resolve({ text: '', tooLarge: false, aborted: true }));
  });
}

export async function startTruetaskSimulator(options: TruetaskSimulatorOptions): Promise<TruetaskSimulator> {
  const seed = options.seed ?? 1;
  const faultRandom = mulberry32(seed);
  const received: ReceivedRequest[] = [];
  const cost = options.passwordHashCost;
  if (cost !== undefined && !(Number.isInteger(cost) && cost >= 2 && (cost & (cost - 1)) === 0)) throw new Error('passwordHashCost must be a power of two >= 2');
  const store = createStore(options.users ?? [], mulberry32(seed ^ 0x5bd1e995), cost);
  const tokens = options.tokens.map((t) => ({ ...t, digest: digest(t.token) }));
  for (const t of tokens) {
    if (t.token.length === 0) throw new Error(`token ${t.name} is empty`);
  }
  let faults = validateFaults(options.faults ?? {});
  let faultRequests = 0;
  let total = 0;
  const byMethod = new Map<string, number>();
  const counts: FaultCounts = { rateLimited: 0, errors: 0, drops: 0, dropsAfterWrite: 0 };
  const attempts: CreateAttempt[] = [];
  const log = options.logger;
  let closing = false;

  function authenticate(req: IncomingMessage): { name: string; scope: SimToken['scope'] } | Answer {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) return errorAnswer(401, 'unauthorized', 'Missing or malformed Authorization header: send "Bearer <token>".');
    const given = digest(match[1]);
    const token = tokens.find((t) => timingSafeEqual(t.digest, given));
    if (!token) return errorAnswer(401, 'unauthorized', 'The API token is not valid.');
    if (token.expired) return errorAnswer(401, 'unauthorized', 'The API token has expired.');
    return { name: token.name, scope: token.scope };
  }

  /** One page of a list of `totalItems`; `slice` returns the items of [offset, offset + limit). */
  function listAnswer<T>(totalItems: number, slice: (offset: number, limit: number) => T[], page: number, perPage: number): Answer {
    return {
      status: 200,
      body: {
        page,
        perPage,
        totalItems,
        totalPages: Math.ceil(totalItems / perPage),
        items: slice((page - 1) * perPage, perPage),
      },
    };
  }

  const sliceOf =
    <T>(items: T[]) =>
    (offset: number, limit: number): T[] =>
      items.slice(offset, offset + limit);

  function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch {
      return { ok: false };
    }
  }

  type Route = 'users' | 'user' | 'audit';
  const allowed: Record<Route, string[]> = { users: ['GET', 'POST'], user: ['PATCH'], audit: ['GET'] };

  function matchRoute(pathname: string): { route: Route; id?: string } | undefined {
    if (pathname === '/v1/users') return { route: 'users' };
    if (pathname === '/v1/audit') return { route: 'audit' };
    const m = /^\/v1\/users\/([^/]+)$/.exec(pathname);
    if (m?.[1]) return { route: 'user', id: decodeURIComponent(m[1]) };
    return undefined;
  }

  async function route(req: IncomingMessage, url: URL, body: { text: string; tooLarge: boolean }): Promise<Answer & { tokenName?: string }> {
    const method = req.method ?? 'GET';
    const matched = matchRoute(url.pathname);
    if (!matched) return errorAnswer(404, 'not_found', `No such endpoint: ${method} ${url.pathname}`);
    const methods = allowed[matched.route];
    if (!methods.includes(method)) {
      return { ...errorAnswer(405, 'method_not_allowed', `${method} is not allowed on ${url.pathname}`), headers: { allow: methods.join(', ') } };
    }
    if (body.tooLarge) return errorAnswer(413, 'payload_too_large', `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
    const auth = authenticate(req);
    if ('status' in auth) return auth;
    const write = method !== 'GET';
    if (write && auth.scope !== 'read_write') {
      return { ...errorAnswer(403, 'forbidden', 'The API token may only read: writes need scope read_write.'), tokenName: auth.name };
    }
    const withToken = (a: Answer) => ({ ...a, tokenName: auth.name });

    if (method === 'GET') {
      const q = validateListQuery(url.searchParams, matched.route === 'users');
      if (!q.ok) return withToken(errorAnswer(400, 'validation', q.message, q.fields));
      const { page, perPage } = q.value;
      if (matched.route === 'audit') {
        const audit = store.audit();
        return withToken(listAnswer(audit.length, sliceOf(audit), page, perPage));
      }
      const wanted = q.value.email;
      if (wanted === undefined) return withToken(listAnswer(store.count(), store.slice, page, perPage));
      const items = [store.findByEmail(wanted)].filter((u): u is SimUser => u !== undefined);
      return withToken(listAnswer(items.length, sliceOf(items), page, perPage));
    }

    const parsed = parseJson(body.text);
    if (!parsed.ok) return withToken(errorAnswer(400, 'invalid_json', 'The request body is not valid JSON.'));

    if (method === 'POST') {
      const v = validateCreateBody(parsed.value);
      if (!v.ok) return withToken(errorAnswer(400, 'validation', v.message, v.fields));
      const created = await store.create(v.value, auth.name);
      if (!created) return withToken(errorAnswer(409, 'conflict', 'A user with this email already exists.'));
      return withToken({ status: 201, body: created, wrote: true });
    }

    // PATCH /v1/users/{id}
    const id = matched.id ?? '';
    if (!store.get(id)) return withToken(errorAnswer(404, 'not_found', 'No user with this id.'));
    const v = validatePatchBody(parsed.value);
    if (!v.ok) return withToken(errorAnswer(400, 'validation', v.message, v.fields));
    const updated = store.setRole(id, v.value.role, auth.name);
    if (!updated) return withToken(errorAnswer(404, 'not_found', 'No user with this id.'));
    return withToken({ status: 200, body: updated, wrote: true });
  }

  function send(res: ServerResponse, answer: Answer): void {
    if (res.destroyed || res.writableEnded) return;
    const payload = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      ...(answer.headers ?? {}),
    });
    res.end(payload);
  }

  function drop(req: IncomingMessage, res: ServerResponse): void {
    res.destroy();
    req.socket.destroy();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    received.push({ at: Date.now(), method, path: (req.url ?? '/').split('?')[0] ?? '/', userAgent: req.headers['user-agent'] ?? '' });
    total++;
    byMethod.set(method, (byMethod.get(method) ?? 0) + 1);
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const body = await readBody(req);
    if (body.aborted) return;
    const f = faults;
    faultRequests++;
    const isCreate = method === 'POST' && url.pathname === '/v1/users';
    const logLine = (status: number | 'dropped', tokenName?: string) => {
      if (isCreate) attempts.push({ at: new Date().toISOString(), email: emailOf(body.text), status });
      log?.info({ method, path: url.pathname, query: url.search || undefined, status, tokenName }, 'truetask-sim request');
    };

    if (f.latencyMs) {
      await new Promise<void>((resolve) => setTimeout(resolve, f.latencyMs).unref());
      if (closing || res.destroyed) return;
    }
    if (f.rateLimit && faultRequests % f.rateLimit.every === 0) {
      counts.rateLimited++;
      logLine(429);
      send(res, {
        ...errorAnswer(429, 'rate_limited', 'Too many requests: slow down.'),
        headers: { 'retry-after': String(f.rateLimit.retryAfterSeconds) },
      });
      return;
    }
    if (f.errorRate && faultRandom() < f.errorRate) {
      counts.errors++;
      const status = [502, 503, 504][Math.floor(faultRandom() * 3)] ?? 503;
      logLine(status);
      send(res, errorAnswer(status, 'unavailable', `Simulated ${status}.`));
      return;
    }
    let dropAfterWrite = false;
    if (f.dropRate && faultRandom() < f.dropRate) {
      if (method !== 'GET' && faultRandom() < 0.5) {
        dropAfterWrite = true;
      } else {
        counts.drops++;
        logLine('dropped');
        drop(req, res);
        return;
      }
    }

    let answer: Answer & { tokenName?: string };
    try {
      answer = await route(req, url, body);
    } catch {
      answer = errorAnswer(500, 'internal', 'The simulator failed on this request.');
    }
    if (dropAfterWrite) {
      counts.drops++;
      if (answer.wrote) counts.dropsAfterWrite++;
      logLine('dropped', answer.tokenName);
      drop(req, res);
      return;
    }
    logLine(answer.status, answer.tokenName);
    send(res, answer);
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => drop(req, res));
  };
  const server: Server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler) : createHttpServer(handler);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`;

  return {
    url,
    port,
    setFaults(f) {
      faults = validateFaults(f);
      faultRequests = 0;
    },
    users: () => store.list(),
    audit: () => store.audit(),
    requests: (method) => (method === undefined ? total : (byMethod.get(method.toUpperCase()) ?? 0)),
    faultCounts: () => ({ ...counts }),
    createAttempts: () => attempts.map((a) => ({ ...a })),
    received: () => received.map((r) => ({ ...r })),
    close() {
      closing = true;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
