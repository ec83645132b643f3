// The runtime's generic condition helpers (any kind): transition times move only
// on a status change, the kind's order is kept, messages are clipped by bytes.
import { describe, expect, it } from 'vitest';
import { removeConditions, setConditions } from '../../../src/runtime/conditions.ts';

const t0 = new Date('2026-11-25T10:00:00.123Z');
const t1 = new Date('2026-11-25T11:00:00Z');

describe('conditions', () => {
  it('keeps lastTransitionTime while the status stays, moves it when it changes, in the given order', () => {
    const first = setConditions(undefined, [{ type: 'B', status: 'True', reason: 'Ok', message: 'fine' }, { type: 'A', status: 'False', reason: 'No', message: 'not yet' }], 3, t0, { order: ['A', 'B'] });
    expect(first.map((c) => c.type)).toEqual(['A', 'B']);
    expect(first[0]).toEqual({ type: 'A', status: 'False', reason: 'No', message: 'not yet', lastTransitionTime: '2026-11-25T10:00:00Z', observedGeneration: 3 });
    const second = setConditions(first, [{ type: 'B', status: 'True', reason: 'StillOk', message: 'still' }, { type: 'A', status: 'True', reason: 'Ok', message: 'now' }, { type: 'Z', status: 'Unknown', reason: 'New', message: '' }], 4, t1, { order: ['A', 'B'] });
    expect(second.map((c) => [c.type, c.lastTransitionTime, c.reason])).toEqual([
      ['A', '2026-11-25T11:00:00Z', 'Ok'],
      ['B', '2026-11-25T10:00:00Z', 'StillOk'],
      ['Z', '2026-11-25T11:00:00Z', 'New'],
    ]);
    expect(removeConditions(second, ['B', 'Z']).map((c) => c.type)).toEqual(['A']);
  });

  it('clips messages by UTF-8 bytes', () => {
    const [c] = setConditions(undefined, [{ type: 'A', status: 'True', reason: 'Ok', message: '漢'.repeat(1000) }], undefined, t0, { maxMessageBytes: 100 });
    expect(Buffer.byteLength(c!.message)).toBeLessThanOrEqual(100);
    expect(c!.message.endsWith('…')).toBe(true);
    expect(c).not.toHaveProperty('observedGeneration');
  });
});
