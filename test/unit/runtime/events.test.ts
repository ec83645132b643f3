// The runtime's event recorder with a fake core API: one Event per new reason and
// message, a repeat bumps its count, messages clipped by bytes, failures logged
// and never thrown (events are best effort).
import { Writable } from 'node:stream';
import type { CoreV1Api, CoreV1EventList } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createEventRecorder, MAX_EVENT_MESSAGE } from '../../../src/runtime/events.ts';

function fakeCore(fail = () => false) {
  const created: Array<Record<string, unknown>> = [];
  const patched: Array<{ name: string; count: unknown }> = [];
  const core = {
    createNamespacedEvent: async ({ body }: { body: Record<string, unknown> }) => {
      if (fail()) throw new Error('HTTP 500');
      created.push(body);
      return body;
    },
    patchNamespacedEvent: async ({ name, body }: { name: string; body: { count: unknown } }) => {
      if (fail()) throw new Error('HTTP 500');
      patched.push({ name, count: body.count });
      return {} as CoreV1EventList;
    },
  } as unknown as CoreV1Api;
  return { core, created, patched };
}

const ref = { namespace: 'ns', name: 'corp', uid: 'u1' };
const opts = { apiVersion: 'example.io/v1', kind: 'Thing', component: 'tester', host: 'pod-1' };

describe('the event recorder', () => {
  it('creates an Event, bumps its count on a repeat, and creates another for a new message', async () => {
    const f = fakeCore();
    const r = createEventRecorder(f.core, pino({ level: 'silent' }), opts);
    await r.record(ref, 'Warning', 'Failed', 'boom');
    await r.record(ref, 'Warning', 'Failed', 'boom');
    await r.record(ref, 'Warning', 'Failed', 'boom');
    expect(f.created).toHaveLength(1);
    expect(f.created[0]).toMatchObject({ reason: 'Failed', type: 'Warning', message: 'boom', count: 1, involvedObject: { kind: 'Thing', name: 'corp', uid: 'u1' }, reportingComponent: 'tester', reportingInstance: 'pod-1' });
    const name = (f.created[0]?.metadata as { name: string }).name;
    expect(f.patched).toEqual([{ name, count: 2 }, { name, count: 3 }]);
    await r.record(ref, 'Warning', 'Failed', 'another');
    expect(f.created).toHaveLength(2);
    r.forget(ref);
    await r.record(ref, 'Warning', 'Failed', 'another');
    expect(f.created).toHaveLength(3);
  });

  it('clips messages by bytes', async () => {
    const f = fakeCore();
    await createEventRecorder(f.core, pino({ level: 'silent' }), opts).record(ref, 'Normal', 'Done', '漢'.repeat(2000));
    expect(Buffer.byteLength(f.created[0]?.message as string)).toBeLessThanOrEqual(MAX_EVENT_MESSAGE);
  });

  it('a failure is logged, not thrown, and the next record creates a fresh Event', async () => {
    let failing = true;
    const f = fakeCore(() => failing);
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const r = createEventRecorder(f.core, log, opts);
    await expect(r.record(ref, 'Warning', 'Failed', 'boom')).resolves.toBeUndefined();
    expect(lines.join('')).toContain('could not record event');
    failing = false;
    await r.record(ref, 'Warning', 'Failed', 'boom');
    expect(f.created).toHaveLength(1);
    expect(f.patched).toEqual([]);
  });
});
