/** Parses spec.interval: "manual", or a Go-style duration of h/m/s parts. Returns seconds. */
export function parseInterval(value: string): 'manual' | number | undefined {
  if (value === 'manual') return 'manual';
  const m = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(value);
  if (!m || value === '') return undefined;
  const [, h, min, s] = m;
  return Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0);
}

/** Parses spec.fullSyncInterval: "0" (every run is a full run), or a duration. Returns seconds (0: always full). */
export function parseFullSyncInterval(value: string): number | undefined {
  if (value === '0') return 0;
  const parsed = parseInterval(value);
  return parsed === 'manual' ? undefined : parsed;
}
