/** Shared fixtures for the client-against-simulator tests. */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.ts';
import { createTruetaskClient, type TruetaskClient, type TruetaskClientOptions } from '../../src/truetask/client.ts';
import type { CreateUserInput } from '../../src/truetask/types.ts';
import { startTruetaskSimulator, type TruetaskSimulator, type TruetaskSimulatorOptions } from '../../src/truetask-sim/server.ts';
import { expect } from 'vitest';
import { AdSyncError } from '../../src/errors.ts';

export const RW_TOKEN = `ttk_rw_${randomBytes(16).toString('hex')}`;
export const READ_TOKEN = `ttk_ro_${randomBytes(16).toString('hex')}`;
export const EXPIRED_TOKEN = `ttk_old_${randomBytes(16).toString('hex')}`;
/** A password no test ever expects to see outside a request body. */
export const PASSWORD = `Pw!${randomBytes(18).toString('base64url')}`;

export const simTokens = [
  { name: 'adsync-operator', token: RW_TOKEN, scope: 'read_write' as const },
  { name: 'dashboard-reader', token: READ_TOKEN, scope: 'read' as const },
  { name: 'retired', token: EXPIRED_TOKEN, scope: 'read_write' as const, expired: true },
];

export const OWNER = { email: 'Owner@corp.example.com', name: 'The Owner', role: 'owner' as const };

export function startSim(options: Partial<TruetaskSimulatorOptions> = {}): Promise<TruetaskSimulator> {
  return startTruetaskSimulator({ tokens: simTokens, users: [OWNER], seed: 42, ...options });
}

export interface Recorder {
  delays: number[];
  sleep: (ms: number) => Promise<void>;
}

/** A sleep that records the delay and returns at once. */
export function recordingSleep(): Recorder {
  const delays: number[] = [];
  return {
    delays,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  };
}

export function client(sim: { url: string }, options: Partial<TruetaskClientOptions> = {}): TruetaskClient {
  return createTruetaskClient({ url: sim.url, token: RW_TOKEN, sleep: recordingSleep().sleep, ...options });
}

/** A debug-level logger whose lines are kept in memory. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

export function input(email: string, role: 'admin' | 'user' = 'user', password = PASSWORD): CreateUserInput {
  return { email, name: `Name of ${email}`, role, verified: true, password };
}

/** A raw request to the simulator (no client), answering status, headers and parsed body. */
export async function raw(
  sim: { url: string },
  method: string,
  path: string,
  options: { token?: string | null; body?: unknown; rawBody?: string } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? RW_TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${sim.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> };
}

export function validBody(email: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { email, name: 'Ada Lovelace', role: 'user', verified: true, password: PASSWORD, passwordConfirm: PASSWORD, ...extra };
}

/** Everything an error can show: message, stack, JSON, inspect with its cause chain. */
export async function errorTexts(err: unknown): Promise<string> {
  const { inspect } = await import('node:util');
  const parts: string[] = [inspect(err, { depth: 10 }), JSON.stringify(err), String(err)];
  let e: unknown = err;
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    parts.push(e.message, e.stack ?? '');
    e = e.cause;
  }
  return parts.join('\n');
}

/** Awaits `p`, expecting it to reject with an AdSyncError, and returns that error. */
export async function rejection(p: Promise<unknown>): Promise<AdSyncError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AdSyncError);
    return err as AdSyncError;
  }
  throw new Error('expected a rejection');
}
