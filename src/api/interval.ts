/** Parses spec.interval: "manual", or a Go-style duration of h/m/s parts. Returns seconds. */
export function parseInterval(value: string): 'manual' | number | undefined {
  if (value === 'manual') return 'manual';
  const m = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(value);
  if (!m || value === '') return undefined;
  const [, h, min, s] = m;
  return Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0);
}
