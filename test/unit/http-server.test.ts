// The probe/metrics server over real loopback HTTP.
import { Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpServer } from '../../src/runtime/http-server.ts';
import { silentLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';

const started: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

async function start(overrides: Partial<Parameters<typeof startHttpServer>[0]> = {}): Promise<HttpServer> {
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    isReady: () => true,
    isHealthy: () => true,
    logger: silentLogger(),
    ...overrides,
  });
  started.push(server);
  return server;
}

describe('startHttpServer', () => {
  it('listens on a random loopback port when port is 0', async () => {
    const a = await start();
    const b = await start();
    expect(a.port).toBeGreaterThan(0);
    expect(a.port).not.toBe(b.port);
    expect(a.url).toBe(`http://127.0.0.1:${a.port}`);
  });

  it('serves /metrics from the given registry in the Prometheus text format', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.setReady({ namespace: 'truetask', name: 'corp' }, true);
    const server = await start({ registry: metrics.registry });

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.registry.contentType);
    const body = await res.text();
    expect(body).toContain('# TYPE truetask_adsync_ready gauge');
    expect(body).toContain('truetask_adsync_ready{namespace="truetask",name="corp"} 1\n');

    // each scrape reads the current values
    metrics.setReady({ namespace: 'truetask', name: 'corp' }, false);
    expect(await (await fetch(`${server.url}/metrics?x=1`)).text()).toContain('truetask_adsync_ready{namespace="truetask",name="corp"} 0\n');
  });

  it('answers /healthz with 200 "ok" when healthy and 500 otherwise', async () => {
    let healthy = true;
    const server = await start({ isHealthy: () => healthy });
    const ok = await fetch(`${server.url}/healthz`);
    expect(ok.status).toBe(200);
    expect((await ok.text()).trim()).toBe('ok');

    healthy = false;
    const bad = await fetch(`${server.url}/healthz`);
    expect(bad.status).toBe(500);
    expect((await bad.text()).trim()).not.toBe('ok');
  });

  it('answers /readyz with 200 when ready and 503 with a short reason otherwise', async () => {
    let ready = false;
    const server = await start({ isReady: () => ready, notReadyReason: () => 'not the leader' });
    const notYet = await fetch(`${server.url}/readyz`);
    expect(notYet.status).toBe(503);
    const reason = await notYet.text();
    expect(reason).toContain('not the leader');
    expect(reason.length).toBeLessThan(200);

    ready = true;
    const ok = await fetch(`${server.url}/readyz`);
    expect(ok.status).toBe(200);
    expect((await ok.text()).trim()).toBe('ok');

    // without a reason function there is still a body
    ready = false;
    const plain = await start({ isReady: () => ready });
    const res = await fetch(`${plain.url}/readyz`);
    expect(res.status).toBe(503);
    expect((await res.text()).trim()).not.toBe('');
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const server = await start();
    for (const path of ['/', '/metric', '/healthz/x', '/favicon.ico']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(404);
      await res.body?.cancel();
    }
    const post = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.body?.cancel();
    const head = await fetch(`${server.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('answers 500 when collecting metrics fails, and keeps serving', async () => {
    const registry = new Registry();
    new Gauge({
      name: 'broken',
      help: 'throws on collect',
      registers: [registry],
      collect() {
        throw new Error('collector exploded');
      },
    });
    const server = await start({ registry });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('exploded');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('close() stops listening and is idempotent', async () => {
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      isReady: () => true,
      isHealthy: () => true,
      logger: silentLogger(),
    });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200); // leaves a keep-alive connection
    await Promise.all([server.close(), server.close()]);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('rejects when the port is taken', async () => {
    const first = await start();
    await expect(start({ port: first.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
