/** A small deterministic PRNG (mulberry32): the same seed gives the same faults. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const idAlphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A 15-character [a-z0-9] id. */
export function randomId(random: () => number): string {
  let id = '';
  for (let i = 0; i < 15; i++) id += idAlphabet[Math.floor(random() * idAlphabet.length)] ?? 'a';
  return id;
}
