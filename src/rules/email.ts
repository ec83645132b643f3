/**
 * Email rules of a sync (rule 9): the chosen attribute, trimmed, compared
 * case-insensitively; a value that is not an address is skipped with a reason.
 */
const LOCAL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\u00A0-\uFFFF-]+$/u;
const DOMAIN_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;

export function normalizeEmail(value: string): string {
  return value.trim().toLowerCase();
}

/** Why `value` is not a usable address, or undefined when it is. */
export function emailProblem(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return 'empty';
  if (v.length > 254) return 'longer than 254 characters';
  const at = v.lastIndexOf('@');
  if (at <= 0 || at === v.length - 1) return 'not of the form name@domain';
  const local = v.slice(0, at);
  const domain = v.slice(at + 1);
  if (local.length > 64) return 'part before @ longer than 64 characters';
  if (!LOCAL.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return 'invalid characters before @';
  const labels = domain.split('.');
  if (labels.length < 2 || labels.some((l) => !DOMAIN_LABEL.test(l) || l.length > 63)) return 'invalid domain after @';
  return undefined;
}
