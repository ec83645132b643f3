/**
 * The simulator is the spec's stand-in: these tests hold it to the contract
 * (/work/shared/spec/truetask-api.md) with raw HTTP, no client in between.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { EXPIRED_TOKEN, PASSWORD, READ_TOKEN, RW_TOKEN, raw, startSim, validBody } from './helpers.ts';

let sim: TruetaskSimulator;
let n = 0;
const fresh = () => `user${++n}@corp.example.com`;

beforeAll(async () => {
  sim = await startSim();
});
afterAll(async () => {
  await sim.close();
});

function expectError(res: { status: number; body: Record<string, unknown> }, status: number, error?: string) {
  expect(res.status).toBe(status);
  expect(typeof res.body.error).toBe('string');
  expect(typeof res.body.message).toBe('string');
  if (error !== undefined) expect(res.body.error).toBe(error);
}

describe('auth', () => {
  it.each([
    ['missing', null],
    ['unknown', 'not-a-token'],
    ['expired', EXPIRED_TOKEN],
  ])('answers 401 for a %s token', async (_what, token) => {
    expectError(await raw(sim, 'GET', '/v1/users', { token }), 401, 'unauthorized');
    expectError(await raw(sim, 'POST', '/v1/users', { token, body: validBody(fresh()) }), 401, 'unauthorized');
  });

  it('answers 401 for a malformed Authorization header', async () => {
    const res = await fetch(`${sim.url}/v1/users`, { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    expect(res.status).toBe(401);
  });

  it('lets a read token read but not write (403)', async () => {
    expect((await raw(sim, 'GET', '/v1/users', { token: READ_TOKEN })).status).toBe(200);
    expect((await raw(sim, 'GET', '/v1/audit', { token: READ_TOKEN })).status).toBe(200);
    const before = sim.audit().length;
    expectError(await raw(sim, 'POST', '/v1/users', { token: READ_TOKEN, body: validBody(fresh()) }), 403, 'forbidden');
    const owner = sim.users()[0]!;
    expectError(await raw(sim, 'PATCH', `/v1/users/${owner.id}`, { token: READ_TOKEN, body: { role: 'admin' } }), 403, 'forbidden');
    expect(sim.audit().length).toBe(before);
  });
});

describe('GET /v1/users', () => {
  it('answers the list shape with defaults page 1, perPage 100', async () => {
    const res = await raw(sim, 'GET', '/v1/users');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body).toMatchObject({ page: 1, perPage: 100 });
    expect(res.body.totalItems).toBe(sim.users().length);
    expect(Array.isArray(res.body.items)).toBe(true);
  });

  it.each([
    ['perPage=0', 'perPage'],
    ['perPage=501', 'perPage'],
    ['perPage=abc', 'perPage'],
    ['perPage=1.5', 'perPage'],
    ['perPage=-1', 'perPage'],
    ['page=0', 'page'],
    ['page=x', 'page'],
    ['page=1&page=2', 'page'],
    ['sort=email', 'sort'],
    ['email=', 'email'],
  ])('refuses %s with 400 naming the field', async (query, field) => {
    const res = await raw(sim, 'GET', `/v1/users?${query}`);
    expectError(res, 400, 'validation');
    expect(Object.keys(res.body.fields as object)).toContain(field);
  });

  it('accepts perPage 1 and 500', async () => {
    expect((await raw(sim, 'GET', '/v1/users?perPage=1')).status).toBe(200);
    expect((await raw(sim, 'GET', '/v1/users?perPage=500&page=3')).body).toMatchObject({ page: 3, perPage: 500, items: [] });
  });

  it('filters by email exactly and case-insensitively', async () => {
    const email = 'Grace.Hopper@Corp.Example.com';
    expect((await raw(sim, 'POST', '/v1/users', { body: validBody(email) })).status).toBe(201);
    const hit = await raw(sim, 'GET', `/v1/users?email=${encodeURIComponent('grace.hopper@corp.EXAMPLE.COM')}`);
    expect(hit.body.totalItems).toBe(1);
    expect((hit.body.items as Array<{ email: string }>)[0]!.email).toBe(email);
    const partial = await raw(sim, 'GET', `/v1/users?email=${encodeURIComponent('hopper@corp.example.com')}`);
    expect(partial.body).toMatchObject({ totalItems: 0, items: [] });
  });
});

describe('POST /v1/users', () => {
  it('creates: 201 with the user and no password, id of 15 [a-z0-9]', async () => {
    const email = fresh();
    const res = await raw(sim, 'POST', '/v1/users', { body: validBody(email, { role: 'admin' }) });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ email, name: 'Ada Lovelace', role: 'admin', verified: true });
    expect(res.body.id).toMatch(/^[a-z0-9]{15}$/);
    expect(Object.keys(res.body).sort()).toEqual(['created', 'email', 'id', 'name', 'role', 'updated', 'verified']);
    expect(JSON.stringify(sim.users())).not.toContain(PASSWORD);
    expect(JSON.stringify(sim.audit())).not.toContain(PASSWORD);
  });

  const cases: Array<[string, (email: string) => unknown, string]> = [
    ['a short password', (e) => validBody(e, { password: 'short-pw-11', passwordConfirm: 'short-pw-11' }), 'password'],
    // The spec's rule 1: generated passwords have at least 24 characters.
    ['a 23-character password', (e) => validBody(e, { password: 'p'.repeat(23), passwordConfirm: 'p'.repeat(23) }), 'password'],
    ['a mismatched confirm', (e) => validBody(e, { passwordConfirm: `${PASSWORD}x` }), 'passwordConfirm'],
    ['a missing confirm', (e) => validBody(e, { passwordConfirm: undefined }), 'passwordConfirm'],
    ['role owner', (e) => validBody(e, { role: 'owner' }), 'role'],
    ['role superuser', (e) => validBody(e, { role: 'superuser' }), 'role'],
    ['a missing role', (e) => validBody(e, { role: undefined }), 'role'],
    ['an unknown field', (e) => validBody(e, { isAdmin: true }), 'isAdmin'],
    ['a bad email', () => validBody('not-an-email'), 'email'],
    ['an email with spaces', () => validBody('ada lovelace@corp.example.com'), 'email'],
    ['a missing email', () => validBody('x@y.z', { email: undefined }), 'email'],
    ['a missing name', (e) => validBody(e, { name: undefined }), 'name'],
    ['a blank name', (e) => validBody(e, { name: '   ' }), 'name'],
    ['a number as name', (e) => validBody(e, { name: 42 }), 'name'],
    ['a string as verified', (e) => validBody(e, { verified: 'true' }), 'verified'],
    ['a number as password', (e) => validBody(e, { password: 123456789012345, passwordConfirm: 123456789012345 }), 'password'],
  ];
  it.each(cases)('refuses %s with 400 and fields', async (_what, make, field) => {
    const before = sim.users().length;
    const res = await raw(sim, 'POST', '/v1/users', { body: make(fresh()) });
    expectError(res, 400, 'validation');
    expect(Object.keys(res.body.fields as object)).toContain(field);
    expect(JSON.stringify(res.body)).not.toContain(PASSWORD);
    expect(sim.users().length).toBe(before);
  });

  it.each([
    ['an array', '[]'],
    ['null', 'null'],
    ['a string', '"x"'],
  ])('refuses %s as body with 400', async (_what, rawBody) => {
    expectError(await raw(sim, 'POST', '/v1/users', { rawBody }), 400);
  });

  it('refuses invalid JSON with 400', async () => {
    expectError(await raw(sim, 'POST', '/v1/users', { rawBody: '{"email": ' }), 400, 'invalid_json');
  });

  it('refuses a body over 64 KiB with 413, and accepts up to it', async () => {
    const big = validBody(fresh(), { name: 'x'.repeat(64 * 1024) });
    expectError(await raw(sim, 'POST', '/v1/users', { body: big }), 413);
    // Just below the limit the body is read and judged on its merits (the name is too long).
    const justBelow = validBody(fresh(), { name: 'x'.repeat(60 * 1024) });
    expectError(await raw(sim, 'POST', '/v1/users', { body: justBelow }), 400, 'validation');
  });

  it('answers 409 for an existing email in any case', async () => {
    const email = fresh();
    expect((await raw(sim, 'POST', '/v1/users', { body: validBody(email) })).status).toBe(201);
    expectError(await raw(sim, 'POST', '/v1/users', { body: validBody(email.toUpperCase()) }), 409, 'conflict');
    expect(sim.users().filter((u) => u.email.toLowerCase() === email).length).toBe(1);
  });

  it('keeps emails unique whatever their case (property)', async () => {
    const letters = fc.constantFrom(...'abcdefghij'.split(''));
    await fc.assert(
      fc.asyncProperty(fc.array(letters, { minLength: 1, maxLength: 8 }), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), async (local, caseA, caseB) => {
        const base = `${local.join('')}.${++n}@prop.example.com`;
        const cased = (flags: boolean[]) => [...base].map((c, i) => (flags[i % flags.length] ? c.toUpperCase() : c)).join('');
        const first = await raw(sim, 'POST', '/v1/users', { body: validBody(cased(caseA)) });
        const second = await raw(sim, 'POST', '/v1/users', { body: validBody(cased(caseB)) });
        expect(first.status).toBe(201);
        expect(second.status).toBe(409);
        const found = await raw(sim, 'GET', `/v1/users?email=${encodeURIComponent(cased(caseB))}`);
        expect(found.body.totalItems).toBe(1);
      }),
      { numRuns: 25 },
    );
  });
});

describe('PATCH /v1/users/{id}', () => {
  it('sets the role and answers the user; the audit log records the change', async () => {
    const email = fresh();
    const created = await raw(sim, 'POST', '/v1/users', { body: validBody(email) });
    const id = created.body.id as string;
    const res = await raw(sim, 'PATCH', `/v1/users/${id}`, { body: { role: 'admin' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, email, role: 'admin' });
    const last = sim.audit().at(-1)!;
    expect(last).toMatchObject({ token: 'adsync-operator', method: 'PATCH', email, change: { op: 'update', role: { from: 'user', to: 'admin' } } });
  });

  it.each([
    ['role owner', { role: 'owner' }, 'role'],
    ['an unknown field', { role: 'admin', name: 'New' }, 'name'],
    ['no role', {}, 'role'],
    ['a bad role', { role: 'root' }, 'role'],
  ])('refuses %s with 400', async (_what, body, field) => {
    const owner = sim.users().find((u) => u.role === 'owner')!;
    const res = await raw(sim, 'PATCH', `/v1/users/${owner.id}`, { body });
    expectError(res, 400, 'validation');
    expect(Object.keys(res.body.fields as object)).toContain(field);
    expect(sim.users().find((u) => u.id === owner.id)!.role).toBe('owner');
  });

  it('answers 404 for an unknown id', async () => {
    expectError(await raw(sim, 'PATCH', '/v1/users/zzzzzzzzzzzzzzz', { body: { role: 'admin' } }), 404, 'not_found');
  });
});

describe('routes and audit', () => {
  it('answers unknown routes with a JSON 404 and wrong methods with a JSON 405', async () => {
    expectError(await raw(sim, 'GET', '/v1/groups'), 404, 'not_found');
    expectError(await raw(sim, 'GET', '/'), 404, 'not_found');
    const res = await raw(sim, 'DELETE', '/v1/users');
    expectError(res, 405);
    expect(res.headers.get('allow')).toBe('GET, POST');
  });

  it('serves the audit log read-only in the list shape, with token names only', async () => {
    const res = await raw(sim, 'GET', '/v1/audit?page=1&perPage=2', { token: READ_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ page: 1, perPage: 2, totalItems: sim.audit().length });
    expect((res.body.items as unknown[]).length).toBe(2);
    expectError(await raw(sim, 'POST', '/v1/audit', { body: {} }), 405);
    expectError(await raw(sim, 'GET', '/v1/audit?perPage=501'), 400);
    expectError(await raw(sim, 'GET', '/v1/audit?email=x@y.z'), 400);
    const all = JSON.stringify(sim.audit());
    expect(all).toContain('adsync-operator');
    expect(all).not.toContain(RW_TOKEN);
  });
});

describe('the create-attempt log (for tests that count what a client tried, not what was stored)', () => {
  it('records every POST /v1/users with its answer, 409s included, and never the password', async () => {
    const email = fresh();
    const before = sim.createAttempts().length;
    expect((await raw(sim, 'POST', '/v1/users', { body: validBody(email) })).status).toBe(201);
    expect((await raw(sim, 'POST', '/v1/users', { body: validBody(email.toUpperCase()) })).status).toBe(409);
    const mine = sim.createAttempts().slice(before);
    expect(mine.map((a) => [a.email, a.status])).toEqual([
      [email, 201],
      [email.toUpperCase(), 409],
    ]);
    expect(JSON.stringify(sim.createAttempts())).not.toContain(PASSWORD);
  });
});
