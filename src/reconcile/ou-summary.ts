/** Discover OUs: each OU or container with the number of matched entries at or below it. */
import { dnKey, isWithin, parentKey, tryParseDn, type Dn } from '../ldap/dn.ts';
import type { ContainerInfo, DirectoryEntry } from '../ldap/reader.ts';

export interface OuSummary {
  dn: string;
  kind: ContainerInfo['kind'];
  users: number;
  excluded: boolean;
}

/**
 * Lists OUs, and containers that hold at least one matched entry, in tree order
 * (parents before children, siblings by name).
 */
export function summarizeOUs(containers: readonly ContainerInfo[], entries: readonly DirectoryEntry[], excludedOUs: readonly Dn[]): OuSummary[] {
  // No containers read (a preview or a sync from the CLI): nothing to count entries for,
  // and counting is a DN key per entry (~0.3 s at 40,000 entries, after the directory read).
  if (containers.length === 0) return [];
  const counts = new Map<string, number>();
  for (const entry of entries) {
    for (let key = parentKey(dnKey(entry.dn)); key !== undefined; key = parentKey(key)) {
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const out: Array<OuSummary & { sortKey: string }> = [];
  for (const c of containers) {
    const dn = tryParseDn(c.dn);
    if (!dn) continue;
    const users = counts.get(dn.key) ?? 0;
    if (c.kind === 'container' && users === 0) continue;
    out.push({
      dn: c.dn,
      kind: c.kind,
      users,
      excluded: excludedOUs.some((ou) => isWithin(dn, ou)),
      sortKey: dn.key.split(',').reverse().join(','),
    });
  }
  out.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  return out.map(({ sortKey: _sortKey, ...rest }) => rest);
}
