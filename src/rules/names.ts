/**
 * Rules of a sync shared by the directory reader (src/ldap) and the planner
 * (src/reconcile); nothing here imports from either.
 */
/** The name attributes an entry may have, as read from AD. */
export interface NameAttributes {
  displayName?: string | undefined;
  givenName?: string | undefined;
  sn?: string | undefined;
  cn?: string | undefined;
}

/** Rule 11: displayName, else "givenName sn", else cn; undefined when none is usable. */
export function nameOf(attrs: NameAttributes): string | undefined {
  const display = attrs.displayName?.trim();
  if (display) return display;
  const given = [attrs.givenName?.trim(), attrs.sn?.trim()].filter((p): p is string => !!p).join(' ');
  if (given) return given;
  return attrs.cn?.trim() || undefined;
}
