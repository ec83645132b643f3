import type { DirectoryEntry } from '../ldap/reader.ts';

/** Rule 11: displayName, else "givenName sn", else cn. */
export function displayNameOf(entry: Pick<DirectoryEntry, 'displayName' | 'givenName' | 'sn' | 'cn'>, fallback: string): string {
  const display = entry.displayName?.trim();
  if (display) return display;
  const given = [entry.givenName?.trim(), entry.sn?.trim()].filter((p): p is string => !!p).join(' ');
  if (given) return given;
  return entry.cn?.trim() || fallback;
}
