// The informer's list/watch loop with fakes at its ports (the list, client-node's
// Watch, the sleep): one LIST, watches resumed from the last resourceVersion when
// they end, go idle or fail; a relist only on 410 Gone; warnings only for real
// failures, with the project's back-off.
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_IDLE_TIMEOUT_MS, Informer, type RawObject, type WatchLike } from '../../../src/runtime/informer.ts';

interface FakeWatch {
  rv: unknown;
  query: Record<string, unknown>;
  requestTimeoutMs: number;
  event: (type: string, obj: RawObject & { code?: number }) => void;
  end: (err: unknown) => void;
}

const obj = (name: string, rv: string): RawObject => ({ metadata: { namespace: 'ns', name, resourceVersion: rv } });
const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function harness(lists: Array<{ resourceVersion: string; items: RawObject[] } | Error>) {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
        cb();
      },
    }),
  );
  const watches: FakeWatch[] = [];
  const sleeps: number[] = [];
  let listed = 0;
  const seen: string[] = [];
  const informer = new Informer({
    kubeConfig: new KubeConfig(),
    resource: { group: 'truetask.io', version: 'v1alpha1', plural: 'adsyncs' },
    namespaces: ['ns'],
    logger,
    random: () => 0.5,
    list: () => {
      const next = lists[Math.min(listed, lists.length - 1)];
      listed++;
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next!);
    },
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    watchFactory: () => {
      const w: WatchLike = {
        requestTimeoutMs: 30_000,
        watch: (_path, query, callback, done) => {
          const fake: FakeWatch = { rv: query.resourceVersion, query, requestTimeoutMs: w.requestTimeoutMs, event: callback as FakeWatch['event'], end: done };
          watches.push(fake);
          // Like client-node: aborting the watch ends it (done, no error).
          const c = new AbortController();
          c.signal.addEventListener('abort', () => done(null), { once: true });
          return Promise.resolve(c);
        },
      };
      return w;
    },
    onAdd: (key) => seen.push(`add ${key}`),
    onUpdate: (key) => seen.push(`update ${key}`),
    onDelete: (key) => seen.push(`delete ${key}`),
  });
  return {
    informer,
    watches,
    sleeps,
    seen,
    lists: () => listed,
    warnings: () => lines.filter((l) => l.level >= 40).map((l) => l.msg),
    lastWatch: () => watches.at(-1)!,
  };
}

describe('the informer (fakes)', () => {
  const started: Informer[] = [];
  afterEach(async () => {
    for (const i of started.splice(0)) {
      const stopping = i.stop();
      await stopping;
    }
  });
  const start = (h: ReturnType<typeof harness>) => {
    started.push(h.informer);
    h.informer.start();
    return settle();
  };

  it('idle: a watch that ends or stays silent is resumed from the last resourceVersion (a bookmark), never relisted, without a warning', async () => {
    const h = harness([{ resourceVersion: '10', items: [obj('a', '5')] }]);
    await start(h);
    expect(h.lists()).toBe(1);
    expect(h.informer.hasSynced).toBe(true);
    expect(h.watches).toHaveLength(1);
    const first = h.lastWatch();
    expect(first.rv).toBe('10');
    expect(first.query).toMatchObject({ allowWatchBookmarks: true });
    expect(first.query.timeoutSeconds).toBeGreaterThanOrEqual(240);
    // The client's inactivity timeout is above the API server's bookmark period (~1 min), not client-node's 30 s.
    expect(first.requestTimeoutMs).toBe(DEFAULT_IDLE_TIMEOUT_MS);
    expect(first.requestTimeoutMs).toBeGreaterThan(60_000);

    first.event('BOOKMARK', { metadata: { resourceVersion: '20' } });
    first.end(null); // the server ended it (timeoutSeconds)
    await settle();
    expect(h.lastWatch().rv).toBe('20');

    h.lastWatch().event('BOOKMARK', { metadata: { resourceVersion: '30' } });
    h.lastWatch().end(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    await settle();
    expect(h.lastWatch().rv).toBe('30');
    expect(h.watches).toHaveLength(3);
    expect(h.lists()).toBe(1);
    expect(h.warnings()).toEqual([]);
    expect(h.sleeps).toEqual([]);
    expect(h.seen).toEqual(['add ns/a']);
  });

  it('410 Gone relists, and the relist reports what the watch missed', async () => {
    const h = harness([
      { resourceVersion: '10', items: [obj('a', '5'), obj('b', '6')] },
      { resourceVersion: '50', items: [obj('a', '40'), obj('c', '45')] },
    ]);
    await start(h);
    h.lastWatch().event('ERROR', { code: 410 });
    h.lastWatch().end(null);
    await settle();
    expect(h.lists()).toBe(2);
    expect(h.lastWatch().rv).toBe('50');
    expect(h.seen).toEqual(['add ns/a', 'add ns/b', 'update ns/a', 'add ns/c', 'delete ns/b']);
    expect(h.warnings()).toEqual([]);
  });

  it('a failing watch is warned about, backed off (500 ms doubling) and retried from the last resourceVersion, not relisted', async () => {
    const h = harness([{ resourceVersion: '10', items: [] }]);
    await start(h);
    h.lastWatch().event('ADDED', obj('a', '11'));
    for (let i = 0; i < 4; i++) {
      h.lastWatch().end(new Error('connection reset'));
      await settle();
    }
    expect(h.watches.map((w) => w.rv)).toEqual(['10', '11', '11', '11', '11']);
    expect(h.lists()).toBe(1);
    // random 0.5: the upper half of each step, 500 ms doubling.
    expect(h.sleeps).toEqual([375, 750, 1500, 3000]);
    expect(h.warnings()).toEqual(Array(4).fill('watch failed; retrying from the last resourceVersion'));
    // A watch that ends normally resets the back-off.
    h.lastWatch().end(null);
    await settle();
    h.lastWatch().end(new Error('connection reset'));
    await settle();
    expect(h.sleeps.at(-1)).toBe(375);
  });

  it('a failing list is retried with back-off until it succeeds; nothing is synced meanwhile', async () => {
    const h = harness([new Error('503'), new Error('503'), { resourceVersion: '7', items: [obj('a', '1')] }]);
    await start(h);
    expect(h.lists()).toBe(3);
    expect(h.sleeps).toEqual([375, 750]);
    expect(h.warnings()).toEqual(['list failed; retrying', 'list failed; retrying']);
    expect(h.informer.hasSynced).toBe(true);
    expect(h.lastWatch().rv).toBe('7');
  });
});
