/**
 * Rules of the AdSync spec, declared once. Each becomes a CEL
 * `x-kubernetes-validations` entry in the generated CRD (enforced at admission)
 * and a zod refinement (enforced when the CLI reads a file and when the
 * controller reads an object), with the same message. Object scopes check
 * fields against each other; string scopes (a filter, a DN, a group reference)
 * check one value, CEL's `self` being the string.
 */
import type { z } from 'zod';
import { DN_LIKE_PATTERN, DN_PATTERN, hasDnShape, isDnLike } from '../ldap/dn.ts';
import { filterProblem } from '../ldap/filter.ts';
import { parseInterval } from './interval.ts';

type ObjectScope = 'ldap' | 'truetask' | 'adminPromotion' | 'spec';
type StringScope = 'userFilter' | 'dn' | 'groupRef';
type Scope = ObjectScope | StringScope;

interface Rule {
  scope: Scope;
  /** CEL, evaluated by the API server with `self` bound to the scope's object or string. */
  cel: string;
  message: string;
  /** Path reported with the message, relative to the scope. */
  fieldPath?: string;
  /** The same rule in TypeScript, on the parsed (defaulted) value. */
  holds: (self: unknown) => boolean;
  /** Where exactly the value breaks the rule, appended to the message by zod (CEL cannot say). */
  detail?: (self: unknown) => string | undefined;
}

/** A control character (C0 or DEL), in the regex syntax RE2 and JavaScript share. */
const CONTROL_CHARACTER = String.raw`[\x00-\x1f\x7f]`;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
const count = (s: string, c: string): number => s.split(c).length - 1;
/** A CEL raw string literal: backslashes are taken literally, as in the JavaScript pattern. */
const celRaw = (pattern: string): string => {
  if (pattern.includes("'")) throw new Error(`rules: a pattern with a quote cannot be a CEL raw string: ${pattern}`);
  return `r'${pattern}'`;
};

export const USER_FILTER_MESSAGE =
  'userFilter must be one LDAP filter: it starts with "(", ends with ")" and has as many "(" as ")"; write a parenthesis inside a value as \\28 or \\29, for example (cn=Smith \\28IT\\29)';
export const DN_MESSAGE =
  'must be a distinguished name (RFC 4514): attribute=value pairs separated by commas, such as OU=Service Accounts,DC=corp,DC=example,DC=com; in a value escape , + ; " \\ < > with a backslash, as in CN=Smith\\, John';
export const GROUP_REF_MESSAGE =
  'a group given as a DN (it starts with attribute=) must be a distinguished name (RFC 4514), such as CN=IT-Admins,OU=Groups,DC=corp,DC=example,DC=com, with , + ; " \\ < > in values escaped by a backslash; give any other group by its name, such as IT-Admins';

export const FAILOVER_STARTTLS_MESSAGE =
  'startTLS: true needs ldap:// URLs in failover too: every DC is reached the same way, so give each failover DC as ldap://HOST:389';

export const LDAP_PLAINTEXT_MESSAGE =
  'an ldap:// URL without startTLS sends the bind password in clear text: use ldaps://HOST:636, or set startTLS: true (with ldap://HOST:389); to accept clear text on purpose set spec.ldap.insecurePlaintext: true';
export const FAILOVER_PLAINTEXT_MESSAGE =
  'a failover DC given as ldap:// without startTLS would get the bind password in clear text: give it as ldaps://HOST:636, or set startTLS: true; to accept clear text on purpose set spec.ldap.insecurePlaintext: true';
export const TRUETASK_PLAINTEXT_MESSAGE =
  'an http:// Truetask URL sends the API token in clear text: use https://HOST; to accept clear text on purpose set spec.truetask.insecurePlaintext: true';

export const TIMEOUT_MESSAGE = 'timeout must be a duration from 10s to 24h, such as 15m (the default), 30m or 1h';

export const GROUP_CONTROL_MESSAGE =
  'an admin group cannot contain control characters such as NUL: the directory may read the name only up to it and match another group';

export const rules: readonly Rule[] = [
  {
    scope: 'ldap',
    cel: "!has(self.startTLS) || !self.startTLS || self.url.startsWith('ldap://')",
    message: 'startTLS: true needs an ldap:// URL; an ldaps:// connection is already encrypted, so remove startTLS or use ldap://HOST:389',
    fieldPath: '.startTLS',
    holds: (v) => {
      const self = obj(v);
      return self.startTLS !== true || str(self.url).startsWith('ldap://');
    },
  },
  {
    scope: 'ldap',
    cel: "!has(self.startTLS) || !self.startTLS || !has(self.failover) || self.failover.all(f, f.url.startsWith('ldap://'))",
    message: FAILOVER_STARTTLS_MESSAGE,
    fieldPath: '.failover',
    holds: (v) => {
      const self = obj(v);
      return self.startTLS !== true || !Array.isArray(self.failover) || self.failover.every((f) => str(obj(f).url).startsWith('ldap://'));
    },
  },
  {
    scope: 'ldap',
    cel: "!has(self.tls) || self.url.startsWith('ldaps://') || (has(self.startTLS) && self.startTLS)",
    message: 'tls settings apply only to encrypted connections: use an ldaps:// URL or set startTLS: true',
    fieldPath: '.tls',
    holds: (v) => {
      const self = obj(v);
      return self.tls === undefined || str(self.url).startsWith('ldaps://') || self.startTLS === true;
    },
  },
  {
    scope: 'ldap',
    cel: "!self.url.startsWith('ldap://') || (has(self.startTLS) && self.startTLS) || (has(self.insecurePlaintext) && self.insecurePlaintext)",
    message: LDAP_PLAINTEXT_MESSAGE,
    fieldPath: '.url',
    holds: (v) => {
      const self = obj(v);
      return !str(self.url).startsWith('ldap://') || self.startTLS === true || self.insecurePlaintext === true;
    },
  },
  {
    scope: 'ldap',
    cel: "!has(self.failover) || (has(self.startTLS) && self.startTLS) || (has(self.insecurePlaintext) && self.insecurePlaintext) || self.failover.all(f, !f.url.startsWith('ldap://'))",
    message: FAILOVER_PLAINTEXT_MESSAGE,
    fieldPath: '.failover',
    holds: (v) => {
      const self = obj(v);
      return self.startTLS === true || self.insecurePlaintext === true || !Array.isArray(self.failover) || self.failover.every((f) => !str(obj(f).url).startsWith('ldap://'));
    },
  },
  {
    scope: 'truetask',
    cel: "!self.url.startsWith('http://') || (has(self.insecurePlaintext) && self.insecurePlaintext)",
    message: TRUETASK_PLAINTEXT_MESSAGE,
    fieldPath: '.url',
    holds: (v) => {
      const self = obj(v);
      return !str(self.url).startsWith('http://') || self.insecurePlaintext === true;
    },
  },
  {
    scope: 'adminPromotion',
    cel: '!has(self.enabled) || !self.enabled || (has(self.groups) && size(self.groups) > 0)',
    message: 'adminPromotion.enabled is true but adminPromotion.groups is empty: list at least one group (a DN or a name such as IT-Admins), or disable promotion',
    fieldPath: '.groups',
    holds: (v) => {
      const self = obj(v);
      return self.enabled !== true || (Array.isArray(self.groups) && self.groups.length > 0);
    },
  },
  {
    scope: 'spec',
    cel: "!has(self.interval) || self.interval == 'manual' || duration(self.interval) >= duration('1m')",
    message: 'interval must be "manual" or a duration of at least 1m, such as 1h, 6h, 12h or 90m',
    fieldPath: '.interval',
    holds: (v) => {
      const parsed = parseInterval(str(obj(v).interval) || 'manual');
      return parsed !== undefined && (parsed === 'manual' || parsed >= 60);
    },
  },
  {
    scope: 'spec',
    cel: "!has(self.timeout) || (duration(self.timeout) >= duration('10s') && duration(self.timeout) <= duration('24h'))",
    message: TIMEOUT_MESSAGE,
    fieldPath: '.timeout',
    holds: (v) => {
      const raw = obj(v).timeout;
      if (raw === undefined) return true;
      const parsed = parseInterval(str(raw));
      return typeof parsed === 'number' && parsed >= 10 && parsed <= 86_400;
    },
  },
  {
    scope: 'userFilter',
    cel: "self.startsWith('(') && self.endsWith(')') && size(self.replace('(', '')) == size(self.replace(')', ''))",
    message: USER_FILTER_MESSAGE,
    holds: (v) => {
      const self = str(v);
      return self.startsWith('(') && self.endsWith(')') && count(self, '(') === count(self, ')');
    },
    detail: (v) => filterProblem(str(v))?.message,
  },
  {
    scope: 'dn',
    cel: `self.matches(${celRaw(DN_PATTERN)})`,
    message: DN_MESSAGE,
    holds: (v) => hasDnShape(str(v)),
  },
  {
    scope: 'groupRef',
    cel: `!self.matches(${celRaw(DN_LIKE_PATTERN)}) || self.matches(${celRaw(DN_PATTERN)})`,
    message: GROUP_REF_MESSAGE,
    holds: (v) => !isDnLike(str(v)) || hasDnShape(str(v)),
  },
  {
    scope: 'groupRef',
    cel: `!self.matches(${celRaw(CONTROL_CHARACTER)})`,
    message: GROUP_CONTROL_MESSAGE,
    holds: (v) => !new RegExp(CONTROL_CHARACTER).test(str(v)),
  },
];

export function celRules(scope: Scope): Array<{ rule: string; message: string; fieldPath?: string }> {
  return rules
    .filter((r) => r.scope === scope)
    .map((r) => ({ rule: r.cel, message: r.message, ...(r.fieldPath ? { fieldPath: r.fieldPath } : {}) }));
}

export function ruleRefinement(scope: Scope) {
  return (self: unknown, ctx: z.RefinementCtx): void => {
    for (const r of rules) {
      if (r.scope === scope && !r.holds(self)) {
        const path = r.fieldPath ? [r.fieldPath.replace(/^\./, '')] : [];
        const detail = r.detail?.(self);
        ctx.addIssue({ code: 'custom', message: detail ? `${r.message}: ${detail}` : r.message, path });
      }
    }
  };
}

/** True when every rule of the scope holds (a check that only runs after admission's can then add its own message). */
export function rulesHold(scope: Scope, self: unknown): boolean {
  return rules.every((r) => r.scope !== scope || r.holds(self));
}
