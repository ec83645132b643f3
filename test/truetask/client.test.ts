/** The Truetask client against the simulator, over real HTTP. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdSyncError } from '../../src/errors.ts';
import { createTruetaskClient } from '../../src/truetask/client.ts';
import { TruetaskApiError, UserExistsError, UserNotFoundError } from '../../src/truetask/errors.ts';
import type { SeedUser, TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { EXPIRED_TOKEN, OWNER, READ_TOKEN, client, input, startSim, rejection } from './helpers.ts';

describe('pagination', () => {
  const COUNT = 1234;
  let sim: TruetaskSimulator;
  beforeAll(async () => {
    // Three users share each creation millisecond, so the id tie-break matters.
    const base = Date.parse('2026-01-01T00:00:00.000Z');
    const users: SeedUser[] = Array.from({ length: COUNT }, (_, i) => ({
      email: `bulk${String(i).padStart(4, '0')}@corp.example.com`,
      name: `Bulk ${i}`,
      role: 'user',
      created: new Date(base + Math.floor(i / 3)).toISOString(),
    }));
    sim = await startSim({ users: [OWNER, ...users] });
  });
  afterAll(() => sim.close());

  it('listUsers returns every user across pages of 500, in created-then-id order', async () => {
    const c = client(sim);
    try {
      const before = sim.requests('GET');
      const all = await c.listUsers();
      expect(sim.requests('GET') - before).toBe(3);
      expect(all.length).toBe(COUNT + 1);
      expect(new Set(all.map((u) => u.id)).size).toBe(COUNT + 1);
      const byId = new Map(sim.users().map((u) => [u.id, u]));
      const expected = [...all].map((u) => byId.get(u.id)!).sort((a, b) => (a.created === b.created ? (a.id < b.id ? -1 : 1) : a.created < b.created ? -1 : 1));
      expect(all.map((u) => u.id)).toEqual(expected.map((u) => u.id));
      expect(all.map((u) => u.id)).toEqual(sim.users().map((u) => u.id));
      // only what a sync plans with
      expect(Object.keys(all[0] ?? {}).sort()).toEqual(['email', 'id', 'name', 'role']);
      // Stable: a second read gives the same order.
      expect((await c.listUsers()).map((u) => u.id)).toEqual(all.map((u) => u.id));
      expect(await c.checkAccess()).toEqual({ totalUsers: COUNT + 1 });
    } finally {
      await c.close();
    }
  });
});

describe('users', () => {
  let sim: TruetaskSimulator;
  beforeAll(async () => {
    sim = await startSim();
  });
  afterAll(() => sim.close());

  it('findUserByEmail matches case-insensitively and answers undefined for none', async () => {
    const c = client(sim);
    try {
      const owner = await c.findUserByEmail('OWNER@CORP.EXAMPLE.COM');
      expect(owner).toMatchObject({ email: OWNER.email, role: 'owner', verified: true });
      expect(await c.findUserByEmail('nobody@corp.example.com')).toBeUndefined();
    } finally {
      await c.close();
    }
  });

  it('createUser answers the created user, audited with the token name', async () => {
    const c = client(sim);
    try {
      const user = await c.createUser(input('ada@corp.example.com', 'admin'));
      expect(user).toMatchObject({ email: 'ada@corp.example.com', name: 'Name of ada@corp.example.com', role: 'admin', verified: true });
      expect(user.id).toMatch(/^[a-z0-9]{15}$/);
      expect(sim.audit().filter((e) => e.email === 'ada@corp.example.com')).toEqual([
        expect.objectContaining({ token: 'adsync-operator', method: 'POST', userId: user.id, change: expect.objectContaining({ op: 'create', role: 'admin' }) }),
      ]);
      expect((await c.findUserByEmail('Ada@Corp.Example.Com'))?.id).toBe(user.id);
    } finally {
      await c.close();
    }
  });

  it('createUser of an existing email (other case) throws UserExistsError and writes nothing', async () => {
    const c = client(sim);
    try {
      await c.createUser(input('bob@corp.example.com'));
      const before = sim.audit().length;
      const err = await rejection(c.createUser(input('BOB@corp.example.com')));
      expect(err).toBeInstanceOf(UserExistsError);
      expect(err).toMatchObject({ email: 'BOB@corp.example.com', status: 409, reason: 'TruetaskRejected' });
      expect(sim.audit().length).toBe(before);
    } finally {
      await c.close();
    }
  });

  it('setRole promotes a user; an unknown id is UserNotFoundError', async () => {
    const c = client(sim);
    try {
      const carol = await c.createUser(input('carol@corp.example.com'));
      const promoted = await c.setRole(carol.id, 'admin');
      expect(promoted).toMatchObject({ id: carol.id, role: 'admin' });
      expect(sim.audit().at(-1)).toMatchObject({ method: 'PATCH', email: 'carol@corp.example.com', change: { role: { from: 'user', to: 'admin' } } });
      const err = await rejection(c.setRole('zzzzzzzzzzzzzzz', 'admin'));
      expect(err).toBeInstanceOf(UserNotFoundError);
      expect(err).toMatchObject({ reason: 'TruetaskRejected', status: 404, userId: 'zzzzzzzzzzzzzzz' });
    } finally {
      await c.close();
    }
  });

  it('a 400 is TruetaskRejected (fix-config) with the server\'s field messages', async () => {
    const c = client(sim);
    try {
      const err = await rejection(c.createUser(input('dave@corp.example.com', 'user', 'too-short')));
      expect(err).toBeInstanceOf(TruetaskApiError);
      expect(err).toMatchObject({ reason: 'TruetaskRejected', next: 'fix-config', status: 400 });
      expect((err as TruetaskApiError).fields).toHaveProperty('password');
      expect(err.message).toContain('password: must be at least 24 characters');
      expect(err.message).not.toContain('too-short');
      const bad = await rejection(c.createUser({ ...input('not-an-email'), role: 'owner' as 'admin' }));
      expect(Object.keys((bad as TruetaskApiError).fields ?? {}).sort()).toEqual(['email', 'role']);
    } finally {
      await c.close();
    }
  });

  it.each([
    ['an unknown token', 'ttk_nope', 'Unauthorized'],
    ['an expired token', EXPIRED_TOKEN, 'Unauthorized'],
  ])('%s is Unauthorized, fix-config', async (_what, token, reason) => {
    const c = client(sim, { token });
    try {
      const err = await rejection(c.checkAccess());
      expect(err).toMatchObject({ reason, next: 'fix-config', source: 'truetask' });
      expect(err.hint).toMatch(/API Tokens/);
    } finally {
      await c.close();
    }
  });

  it('a read-scope token can read (checkAccess) but a write is Forbidden, fix-config', async () => {
    const c = client(sim, { token: READ_TOKEN });
    try {
      expect((await c.checkAccess()).totalUsers).toBeGreaterThan(0);
      const before = sim.audit().length;
      expect(await rejection(c.createUser(input('erin@corp.example.com')))).toMatchObject({ reason: 'Forbidden', next: 'fix-config' });
      const owner = sim.users()[0]!;
      expect(await rejection(c.setRole(owner.id, 'admin'))).toMatchObject({ reason: 'Forbidden', next: 'fix-config' });
      expect(sim.audit().length).toBe(before);
    } finally {
      await c.close();
    }
  });

  it('reports every attempt to onRequest with method and status', async () => {
    const seen: string[] = [];
    const c = client(sim, { onRequest: (method, code) => seen.push(`${method} ${code}`) });
    try {
      await c.checkAccess();
      await rejection(c.createUser(input('OWNER@corp.example.com')));
      expect(seen).toEqual(['GET 200', 'POST 409']);
    } finally {
      await c.close();
    }
  });

  it('a base URL with a trailing slash works; a wrong path is a rejected 404 with a URL hint', async () => {
    const c = client({ url: `${sim.url}/` });
    const wrong = client({ url: `${sim.url}/truetask` });
    try {
      expect((await c.checkAccess()).totalUsers).toBeGreaterThan(0);
      const err = await rejection(wrong.checkAccess());
      expect(err).toMatchObject({ reason: 'TruetaskRejected', status: 404 });
      expect(err.hint).toMatch(/spec\.truetask\.url/);
    } finally {
      await c.close();
      await wrong.close();
    }
  });

  it('refuses a URL that is not http(s) before any request', () => {
    expect(() => createTruetaskClient({ url: 'ftp://truetask.example.com', token: 'x' })).toThrow(/http or https/);
    expect(() => createTruetaskClient({ url: 'not a url', token: 'x' })).toThrow(AdSyncError);
  });
});

describe('transport failures', () => {
  let bad: Server;
  let badUrl: string;
  beforeAll(async () => {
    // A server that answers 200 with bodies that break the contract.
    bad = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.includes('perPage=1')) res.end('{"page":1,"perPage":1,"totalItems":"many","totalPages":1,"items":[]}');
      else res.end('<html>not json</html>');
    });
    await new Promise<void>((resolve) => bad.listen(0, '127.0.0.1', resolve));
    badUrl = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => bad.close(() => resolve()));
  });

  it('a malformed response is a TruetaskError naming what is wrong, not a crash', async () => {
    const c = client({ url: badUrl });
    try {
      const err = await rejection(c.checkAccess());
      expect(err).toMatchObject({ reason: 'TruetaskError' });
      expect(err.message).toMatch(/totalItems/);
      const err2 = await rejection(c.listUsers());
      expect(err2.message).toMatch(/not JSON/);
    } finally {
      await c.close();
    }
  });

  it('connection refused is TruetaskUnreachable (retry)', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const c = client({ url: `http://127.0.0.1:${port}` });
    try {
      const err = await rejection(c.checkAccess());
      expect(err).toMatchObject({ reason: 'TruetaskUnreachable', next: 'retry' });
      expect(err.message).toMatch(/ECONNREFUSED/);
    } finally {
      await c.close();
    }
  });

  it('no answer in time is TruetaskTimeout after the attempts', async () => {
    const sim = await startSim({ faults: { latencyMs: 2000 } });
    const c = client(sim, { timeoutSeconds: 0.2, retry: { maxAttempts: 2 } });
    try {
      const err = await rejection(c.checkAccess());
      expect(err).toMatchObject({ reason: 'TruetaskTimeout', next: 'retry' });
      expect(err.message).toMatch(/after 2 attempts/);
    } finally {
      await c.close();
      await sim.close();
    }
  });
});
