// The runtime's Controller with a fake informer: adds enqueue, updates enqueue
// only when the predicate says so, deletes drop the key, and its signal cancels
// the reconciles in flight and every later one.
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Controller } from '../../../src/runtime/controller.ts';
import type { InformerOptions, RawObject } from '../../../src/runtime/informer.ts';

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const obj = (name: string, generation: number): RawObject => ({ metadata: { namespace: 'ns', name, generation, resourceVersion: String(generation) } });

function harness() {
  let handlers: InformerOptions | undefined;
  const cache = new Map<string, RawObject>();
  const runs: Array<{ key: string; signal: AbortSignal; finish: () => void }> = [];
  const deleted: string[] = [];
  const cancel = new AbortController();
  const c = new Controller({
    kubeConfig: new KubeConfig(),
    resource: { group: 'example.io', version: 'v1', plural: 'things' },
    logger: pino({ level: 'silent' }),
    concurrency: 2,
    predicate: (o, n) => o.metadata?.generation !== n.metadata?.generation,
    reconcile: (key, signal) => new Promise((resolve) => runs.push({ key, signal, finish: () => resolve({}) })),
    onDelete: (key) => deleted.push(key),
    signal: cancel.signal,
    informer: (o) => {
      handlers = o;
      return { start: () => undefined, stop: async () => undefined, get: (k) => cache.get(k), hasSynced: true };
    },
  });
  const add = (o: RawObject) => {
    const key = `ns/${o.metadata?.name}`;
    const old = cache.get(key);
    cache.set(key, o);
    if (old) handlers!.onUpdate(key, old, o);
    else handlers!.onAdd(key, o);
  };
  const remove = (name: string) => {
    const key = `ns/${name}`;
    const old = cache.get(key)!;
    cache.delete(key);
    handlers!.onDelete(key, old);
  };
  return { c, runs, deleted, cancel, add, remove };
}

describe('the runtime Controller', () => {
  it('reconciles new objects and changes the predicate lets through, not the others', async () => {
    const h = harness();
    h.c.start();
    h.add(obj('a', 1));
    await settle();
    expect(h.runs.map((r) => r.key)).toEqual(['ns/a']);
    expect(h.c.get('ns/a')?.metadata?.generation).toBe(1);
    h.runs[0]!.finish();
    await settle();
    h.add({ ...obj('a', 1), metadata: { ...obj('a', 1).metadata, resourceVersion: '9' } }); // a status-only write
    await settle();
    expect(h.runs).toHaveLength(1);
    h.add(obj('a', 2));
    await settle();
    expect(h.runs.map((r) => r.key)).toEqual(['ns/a', 'ns/a']);
    h.runs[1]!.finish();
    h.c.enqueue('ns/a');
    await settle();
    expect(h.runs).toHaveLength(3);
    h.runs[2]!.finish();
    h.remove('a');
    expect(h.deleted).toEqual(['ns/a']);
    await h.c.stop();
  });

  it('its signal cancels the reconciles in flight, and nothing starts afterwards', async () => {
    const h = harness();
    h.c.start();
    h.add(obj('a', 1));
    await settle();
    h.cancel.abort(new Error('leadership lost'));
    expect(h.runs[0]?.signal.aborted).toBe(true);
    h.add(obj('b', 1));
    h.c.enqueue('ns/a');
    await settle();
    expect(h.runs.map((r) => r.key)).toEqual(['ns/a']);
    h.runs[0]!.finish();
    await h.c.stop();
  });
});
