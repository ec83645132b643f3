/**
 * Cross-field rules of the AdSync spec, declared once. Each becomes a CEL
 * `x-kubernetes-validations` entry in the generated CRD (enforced at admission)
 * and a zod refinement (enforced when the CLI reads a file), with the same message.
 */
import type { z } from 'zod';
import { parseInterval } from './interval.ts';

type Scope = 'ldap' | 'adminPromotion' | 'spec';

interface Rule {
  scope: Scope;
  /** CEL, evaluated by the API server with `self` bound to the scope's object. */
  cel: string;
  message: string;
  /** Path reported with the message, relative to the scope. */
  fieldPath?: string;
  /** The same rule in TypeScript, on the parsed (defaulted) object. */
  holds: (self: Record<string, unknown>) => boolean;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export const rules: readonly Rule[] = [
  {
    scope: 'ldap',
    cel: "!has(self.startTLS) || !self.startTLS || self.url.startsWith('ldap://')",
    message: 'startTLS: true needs an ldap:// URL; an ldaps:// connection is already encrypted, so remove startTLS or use ldap://HOST:389',
    fieldPath: '.startTLS',
    holds: (self) => self.startTLS !== true || str(self.url).startsWith('ldap://'),
  },
  {
    scope: 'ldap',
    cel: "!has(self.tls) || self.url.startsWith('ldaps://') || (has(self.startTLS) && self.startTLS)",
    message: 'tls settings apply only to encrypted connections: use an ldaps:// URL or set startTLS: true',
    fieldPath: '.tls',
    holds: (self) => self.tls === undefined || str(self.url).startsWith('ldaps://') || self.startTLS === true,
  },
  {
    scope: 'adminPromotion',
    cel: '!has(self.enabled) || !self.enabled || (has(self.groups) && size(self.groups) > 0)',
    message: 'adminPromotion.enabled is true but adminPromotion.groups is empty: list at least one group (a DN or a name such as IT-Admins), or disable promotion',
    fieldPath: '.groups',
    holds: (self) => self.enabled !== true || (Array.isArray(self.groups) && self.groups.length > 0),
  },
  {
    scope: 'spec',
    cel: "!has(self.interval) || self.interval == 'manual' || duration(self.interval) >= duration('1m')",
    message: 'interval must be "manual" or a duration of at least 1m, such as 1h, 6h, 12h or 90m',
    fieldPath: '.interval',
    holds: (self) => {
      const parsed = parseInterval(str(self.interval) || 'manual');
      return parsed !== undefined && (parsed === 'manual' || parsed >= 60);
    },
  },
];

export function celRules(scope: Scope): Array<{ rule: string; message: string; fieldPath?: string }> {
  return rules
    .filter((r) => r.scope === scope)
    .map((r) => ({ rule: r.cel, message: r.message, ...(r.fieldPath ? { fieldPath: r.fieldPath } : {}) }));
}

export function ruleRefinement(scope: Scope) {
  return (self: object, ctx: z.RefinementCtx): void => {
    for (const r of rules) {
      if (r.scope === scope && !r.holds(self as Record<string, unknown>)) {
        const path = r.fieldPath ? [r.fieldPath.replace(/^\./, '')] : [];
        ctx.addIssue({ code: 'custom', message: r.message, path });
      }
    }
  };
}
