/**
 * The Truetask API client: the one module that knows the members API contract
 * (docs/truetask-api.md). Every body is parsed with zod; every failure is an
 * AdSyncError typed by what to do next, with no token or password in it.
 */
import type { z } from 'zod';
import type { Logger } from '../log.ts';
import { truetaskError, type AdSyncError } from '../errors.ts';
import { resolveRetryPolicy } from './backoff.ts';
import { sleep } from '../runtime/sleep.ts';
import { TruetaskApiError, UserExistsError, UserNotFoundError, clip, scrub } from './errors.ts';
import { createTransport, type HttpResponse } from './transport.ts';
import {
  errorBodySchema,
  userListSchema,
  userSchema,
  type CreateUserInput,
  type ErrorBody,
  type TruetaskUser,
  type UserListPage,
} from './types.ts';

export interface TruetaskClientOptions {
  /** Base URL; the API is at <url>/v1/. */
  url: string;
  /** The API token (Bearer). Never logged or put in an error. */
  token: string;
  /** PEM bundle of extra CAs to trust (added to the public roots). */
  ca?: string | undefined;
  /** Skip TLS verification (explicit opt-out). */
  insecureSkipVerify?: boolean | undefined;
  /** Deadline of each attempt: connecting, the headers and the whole body (default 30). */
  timeoutSeconds?: number | undefined;
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number; maxRetryAfterMs?: number } | undefined;
  logger?: Logger | undefined;
  /** Called once per HTTP attempt with the method and the status (or 'error'), e.g. for metrics. */
  onRequest?: ((method: string, code: string) => void) | undefined;
  /** Largest response body read, in bytes (default 8 MiB): ResponseTooLarge past it. */
  maxResponseBytes?: number | undefined;
  /** The run's signal (spec.timeout): aborting it ends requests in flight. */
  signal?: AbortSignal | undefined;
  /** Jitter source in [0, 1) (default Math.random). */
  random?: (() => number) | undefined;
  /** How to wait between attempts (default setTimeout); resolves early when `signal` aborts. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  /** User-Agent of every request, e.g. `truetask-adsync/0.1.0 (pod-name)` (default `truetask-adsync`). */
  userAgent?: string | undefined;
  /** Checked right before each request is sent (fencing); throwing stops it before it is sent. */
  beforeRequest?: (() => void) | undefined;
}

/** A listed user, reduced to what a sync plans with (100,000 of them are held at once). */
export type ListedUser = Pick<TruetaskUser, 'id' | 'email' | 'name' | 'role'>;

export interface TruetaskClient {
  /** Every user, all pages (perPage 500), in the server's order, without duplicates. */
  listUsers(): Promise<ListedUser[]>;
  /** The user with this email, compared case-insensitively. */
  findUserByEmail(email: string): Promise<TruetaskUser | undefined>;
  /** Creates a user. Throws UserExistsError on 409 (look the user up by email then). */
  createUser(input: CreateUserInput): Promise<TruetaskUser>;
  /** Sets a user's role. Throws UserNotFoundError on 404. */
  setRole(id: string, role: 'admin'): Promise<TruetaskUser>;
  /** GET /v1/users?perPage=1: proves the URL and the token (read access). */
  checkAccess(): Promise<{ totalUsers: number }>;
  close(): Promise<void>;
}

export const LIST_PAGE_SIZE = 500;
const MAX_PAGES = 10_000;



export function createTruetaskClient(options: TruetaskClientOptions): TruetaskClient {
  const timeoutSeconds = options.timeoutSeconds !== undefined && options.timeoutSeconds > 0 ? options.timeoutSeconds : 30;
  const transport = createTransport({
    url: options.url,
    token: options.token,
    ca: options.ca,
    insecureSkipVerify: options.insecureSkipVerify,
    timeoutMs: Math.round(timeoutSeconds * 1000),
    maxResponseBytes: options.maxResponseBytes,
    signal: options.signal,
    retry: resolveRetryPolicy(options.retry),
    logger: options.logger,
    onRequest: options.onRequest,
    random: options.random ?? Math.random,
    sleep: options.sleep ?? ((ms: number, signal?: AbortSignal) => sleep(ms, signal)),
    userAgent: options.userAgent,
    beforeRequest: options.beforeRequest,
  });
  const token = options.token;

  function parseJson(res: HttpResponse): unknown {
    try {
      return JSON.parse(res.text) as unknown;
    } catch {
      return undefined;
    }
  }

  function parseBody<T>(res: HttpResponse, schema: z.ZodType<T>, secrets: readonly string[] = []): T {
    const json = parseJson(res);
    if (json === undefined) {
      throw truetaskError('TruetaskError', 'retry', `Truetask answered ${res.what} with ${res.status} and a body that is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`)
        .join('; ');
      throw truetaskError(
        'TruetaskError',
        'retry',
        scrub(`Truetask answered ${res.what} with ${res.status} and a body this client does not understand (${issues})`, [token, ...secrets]),
        { hint: 'The Truetask API may differ from the contract in docs/truetask-api.md' },
      );
    }
    return parsed.data;
  }

  function errorBody(res: HttpResponse): ErrorBody | undefined {
    const parsed = errorBodySchema.safeParse(parseJson(res));
    return parsed.success ? parsed.data : undefined;
  }

  function serverMessage(body: ErrorBody | undefined, secrets: readonly string[]): string | undefined {
    return body ? clip(scrub(body.message, [token, ...secrets])) : undefined;
  }

  /** Maps a non-2xx answer that the operation did not handle itself. */
  function failure(res: HttpResponse, secrets: readonly string[] = []): AdSyncError {
    const body = errorBody(res);
    const said = serverMessage(body, secrets);
    const suffix = said ? `: ${said}` : '';
    const details = { status: res.status, code: body?.error };
    switch (res.status) {
      case 401:
        return new TruetaskApiError('Unauthorized', 'fix-config', `Truetask refused the API token (401 on ${res.what})${suffix}`, details);
      case 403:
        return new TruetaskApiError('Forbidden', 'fix-config', `Truetask refused ${res.what} for this API token (403)${suffix}`, details);
      case 400: {
        const fields = body?.fields
          ? Object.fromEntries(Object.entries(body.fields).map(([k, v]) => [k, clip(scrub(v, [token, ...secrets]), 200)]))
          : undefined;
        const list = fields ? Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('; ') : '';
        return new TruetaskApiError(
          'TruetaskRejected',
          'fix-config',
          `Truetask rejected ${res.what} (400)${suffix}${list ? ` [${list}]` : ''}`,
          { ...details, fields },
        );
      }
      default:
        if (res.status >= 500) {
          return new TruetaskApiError('TruetaskError', 'retry', `Truetask failed on ${res.what} (${res.status})${suffix}`, details);
        }
        return new TruetaskApiError('TruetaskRejected', 'fix-config', `Truetask rejected ${res.what} (${res.status})${suffix}`, {
          ...details,
          ...(res.status === 404 || res.status === 405
            ? { hint: 'Check spec.truetask.url: the Truetask API must answer at <url>/v1/' }
            : {}),
        });
    }
  }

  const isOk = (res: HttpResponse) => res.status >= 200 && res.status < 300;

  async function getPage(query: URLSearchParams): Promise<UserListPage> {
    const res = await transport.send({ method: 'GET', path: `users?${query.toString()}` });
    if (!isOk(res)) throw failure(res);
    return parseBody(res, userListSchema);
  }

  return {
    async listUsers() {
      const seen = new Set<string>();
      const users: ListedUser[] = [];
      for (let page = 1; page <= MAX_PAGES; page++) {
        const body = await getPage(new URLSearchParams({ page: String(page), perPage: String(LIST_PAGE_SIZE) }));
        for (const { id, email, name, role } of body.items) {
          if (seen.has(id)) continue;
          seen.add(id);
          users.push({ id, email, name, role });
        }
        if (body.items.length === 0 || page >= body.totalPages) break;
      }
      return users;
    },

    async findUserByEmail(email) {
      const wanted = email.trim().toLowerCase();
      const body = await getPage(new URLSearchParams({ email: email.trim(), perPage: '1' }));
      return body.items.find((u) => u.email.toLowerCase() === wanted);
    },

    async createUser(input) {
      const secrets = [input.password];
      const res = await transport.send({
        method: 'POST',
        path: 'users',
        body: {
          email: input.email,
          name: input.name,
          role: input.role,
          verified: input.verified,
          password: input.password,
          passwordConfirm: input.password,
        },
        secrets,
      });
      if (res.status === 409) throw new UserExistsError(input.email, serverMessage(errorBody(res), secrets));
      if (!isOk(res)) throw failure(res, secrets);
      return parseBody(res, userSchema, secrets);
    },

    async setRole(id, role) {
      const res = await transport.send({ method: 'PATCH', path: `users/${encodeURIComponent(id)}`, body: { role } });
      if (res.status === 404) throw new UserNotFoundError(id, serverMessage(errorBody(res), []));
      if (!isOk(res)) throw failure(res);
      return parseBody(res, userSchema);
    },

    async checkAccess() {
      const body = await getPage(new URLSearchParams({ perPage: '1' }));
      return { totalUsers: body.totalItems };
    },

    close: () => transport.close(),
  };
}
