import { describe, expect, it } from 'vitest';
import { FrameGuard } from '../../src/ldap/frame-guard.ts';

const message = (len: number): Uint8Array => {
  const head = len < 0x80 ? [0x30, len] : [0x30, 0x84, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff];
  return Uint8Array.from([...head, ...new Array<number>(len).fill(0x04)]);
};

describe('FrameGuard: the size each LDAP message announces', () => {
  it('lets messages under the limit through, however the bytes are split into chunks', () => {
    const stream = Uint8Array.from([...message(5), ...message(300), ...message(0), ...message(1000)]);
    for (const size of [1, 2, 3, 7, 64, stream.length]) {
      const g = new FrameGuard(1000);
      for (let at = 0; at < stream.length; at += size) expect(g.push(stream.subarray(at, at + size))).toBeUndefined();
    }
  });

  it('refuses a message announcing more than the limit on its header, even split byte by byte', () => {
    const stream = Uint8Array.from([...message(10), 0x30, 0x84, 0x40, 0x00, 0x00, 0x00]);
    const g = new FrameGuard(4 * 1024 * 1024);
    const seen = [...stream].map((b) => g.push(Uint8Array.of(b)));
    expect(seen.slice(0, -1).every((r) => r === undefined)).toBe(true);
    expect(seen.at(-1)).toBe(1024 ** 3);
  });

  it('refuses a length of more than four octets', () => {
    expect(new FrameGuard(100).push(Uint8Array.of(0x30, 0x85, 1, 0, 0, 0, 0))).toBe(Number.MAX_SAFE_INTEGER);
  });
});
