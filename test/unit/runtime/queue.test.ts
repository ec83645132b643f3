// The runtime's work queue on a fake clock: de-duplication, one run per key at a
// time, the concurrency limit, schedules, and back-off only for handlers that throw.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue, type HandlerResult } from '../../../src/runtime/queue.ts';

const logger = pino({ level: 'silent' });

/** A handler whose runs the test finishes by hand. */
function controllable() {
  const runs: Array<{ key: string; at: number; finish: (r?: HandlerResult) => void; fail: (e: Error) => void }> = [];
  const handler = (key: string) =>
    new Promise<HandlerResult>((resolve, reject) => {
      runs.push({ key, at: Date.now(), finish: (r = {}) => resolve(r), fail: reject });
    });
  return { runs, handler };
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-25T10:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a key once however often it is added, and once more when added while it runs', async () => {
    const { runs, handler } = controllable();
    const q = new WorkQueue({ concurrency: 4, handler, logger });
    q.add('a');
    q.add('a');
    q.add('a');
    await flush();
    expect(runs.map((r) => r.key)).toEqual(['a']);
    q.add('a');
    q.add('a');
    runs[0]!.finish();
    await flush();
    expect(runs.map((r) => r.key)).toEqual(['a', 'a']);
    runs[1]!.finish();
    await flush();
    expect(runs).toHaveLength(2);
  });

  it('never runs more keys at once than its concurrency, and never one key twice at once', async () => {
    const { runs, handler } = controllable();
    const q = new WorkQueue({ concurrency: 2, handler, logger });
    for (const k of ['a', 'b', 'c']) q.add(k);
    await flush();
    expect(runs.map((r) => r.key)).toEqual(['a', 'b']);
    q.add('a');
    runs[0]!.finish();
    await flush();
    expect(runs.map((r) => r.key)).toEqual(['a', 'b', 'c']);
    runs[1]!.finish();
    await flush();
    expect(runs.map((r) => r.key)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('runs a key again when its handler says (requeueAfterMs), not before', async () => {
    const { runs, handler } = controllable();
    const q = new WorkQueue({ concurrency: 1, handler, logger });
    q.add('a');
    await flush();
    runs[0]!.finish({ requeueAfterMs: 60_000 });
    await flush();
    expect(q.scheduledAt('a')?.getTime()).toBe(Date.now() + 60_000);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(2);
    expect(runs[1]!.at - runs[0]!.at).toBe(60_000);
  });

  it('addAfter keeps the earlier schedule; add runs at once and drops the schedule', async () => {
    const { runs, handler } = controllable();
    const q = new WorkQueue({ concurrency: 1, handler, logger });
    q.addAfter('a', 10_000);
    q.addAfter('a', 20_000);
    expect(q.scheduledAt('a')?.getTime()).toBe(Date.now() + 10_000);
    q.add('a');
    expect(q.scheduledAt('a')).toBeUndefined();
    await flush();
    expect(runs).toHaveLength(1);
  });

  it('backs off a key whose handler throws, doubling with jitter, and resets once it returns', async () => {
    const { runs, handler } = controllable();
    const q = new WorkQueue({ concurrency: 1, handler, logger, errorBackoff: { baseDelayMs: 1000, maxDelayMs: 8000 }, random: () => 0 });
    q.add('a');
    const gaps: number[] = [];
    for (let i = 0; i < 6; i++) {
      await flush();
      const run = runs.at(-1)!;
      run.fail(new Error('API server unavailable'));
      await flush();
      const at = q.scheduledAt('a')!.getTime();
      gaps.push(at - Date.now());
      await vi.advanceTimersByTimeAsync(at - Date.now());
    }
    expect(gaps).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    expect(q.errors('a')).toBe(6);
    runs.at(-1)!.finish();
    await flush();
    expect(q.errors('a')).toBe(0);
    expect(q.scheduledAt('a')).toBeUndefined();
  });

  it('forget drops pending work and schedules; stop waits for runs in flight and takes no more', async () => {
    const { runs, handler } = controllable();
    const q = new WorkQueue({ concurrency: 1, handler, logger });
    q.add('a');
    q.add('b');
    q.addAfter('c', 1000);
    await flush();
    q.forget('b');
    q.forget('c');
    let stopped = false;
    const stopping = q.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    runs[0]!.finish({ requeueAfterMs: 10 });
    await stopping;
    await vi.advanceTimersByTimeAsync(60_000);
    q.add('d');
    await flush();
    expect(runs.map((r) => r.key)).toEqual(['a']);
  });

  it('its signal cancels: handlers in flight see it abort, no key starts afterwards, and a cancelled run is not backed off', async () => {
    const seen: AbortSignal[] = [];
    const runs: Array<{ key: string; fail: (e: Error) => void }> = [];
    const handler = (key: string, signal: AbortSignal) =>
      new Promise<HandlerResult>((_resolve, reject) => {
        seen.push(signal);
        runs.push({ key, fail: reject });
      });
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) });
    const cancel = new AbortController();
    const q = new WorkQueue({ concurrency: 1, handler, logger: log, signal: cancel.signal });
    q.add('a');
    q.add('b');
    await flush();
    expect(runs.map((r) => r.key)).toEqual(['a']);
    cancel.abort(new Error('leadership lost'));
    expect(seen[0]?.aborted).toBe(true);
    runs[0]!.fail(new Error('aborted'));
    await flush();
    q.add('c');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs.map((r) => r.key)).toEqual(['a']);
    expect(warnings).toEqual([]);
  });
});
