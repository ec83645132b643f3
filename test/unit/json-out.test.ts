import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonChunks, writeJson } from '../../src/cli/json-out.ts';

const written = (value: unknown) => {
  const parts = [...jsonChunks(value)];
  return { text: parts.join(''), parts };
};

describe('streamed JSON output', () => {
  it('prints exactly what JSON.stringify(value, null, 2) prints', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(written(v).text).toBe(`${JSON.stringify(v, null, 2)}\n`);
      }),
      { numRuns: 500 },
    );
    const odd = { a: undefined, b: [undefined, () => 1, new Date(0)], c: { toJSON: () => ({ x: [1] }) }, d: NaN };
    expect(written(odd).text).toBe(`${JSON.stringify(odd, null, 2)}\n`);
  });

  it('writes a large array in chunks instead of one string', () => {
    const users = Array.from({ length: 20_000 }, (_, i) => ({ email: `u${i}@corp.example.com`, name: `User ${i}`, action: 'create' }));
    const { text, parts } = written({ summary: { toCreate: users.length }, users });
    expect(parts.length).toBeGreaterThan(10);
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThan(70 * 1024);
    expect(JSON.parse(text)).toEqual({ summary: { toCreate: users.length }, users });
  });

  it('waits for the stream to drain whenever a write reports it full, and never buffers more than a chunk ahead', async () => {
    const users = Array.from({ length: 5_000 }, (_, i) => ({ email: `u${i}@corp.example.com`, name: `User ${i}` }));
    const out: string[] = [];
    let pending = 0;
    let maxPending = 0;
    let drains = 0;
    await writeJson(
      (t) => {
        out.push(t);
        pending += t.length;
        maxPending = Math.max(maxPending, pending);
        return pending < 100_000; // a small pipe
      },
      { users },
      async () => {
        drains++;
        pending = 0;
        await Promise.resolve();
      },
    );
    expect(out.join('')).toBe(`${JSON.stringify({ users }, null, 2)}\n`);
    expect(drains).toBeGreaterThan(2);
    expect(maxPending).toBeLessThan(100_000 + 70 * 1024);
  });
});
