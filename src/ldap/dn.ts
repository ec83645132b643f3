/**
 * Distinguished names per RFC 4514, compared the way AD compares them:
 * attribute types and values case-insensitively, escapes decoded (`CN=Smith\, John`,
 * `\2C`, hex-encoded UTF-8), insignificant spaces around separators ignored.
 */

export interface Ava {
  /** Attribute type, lower-cased (cn, ou, dc, or an OID). */
  type: string;
  /** Decoded value, as written (case kept). */
  value: string;
}

/** One RDN: usually one AVA, several when joined with `+`. */
export type Rdn = readonly Ava[];

export interface Dn {
  readonly rdns: readonly Rdn[];
  /** Canonical form: equal for DNs AD considers equal. Use as a map key. */
  readonly key: string;
}

export class DnSyntaxError extends Error {
  constructor(input: string, detail: string) {
    super(`"${input}" is not a valid distinguished name: ${detail}`);
    this.name = 'DnSyntaxError';
  }
}

const SPECIAL = new Set([',', '+', '"', '\\', '<', '>', ';', '=', '#', ' ']);
const HEX = /^[0-9a-fA-F]{2}$/;

/** Parses a DN string. Throws DnSyntaxError when it is not one. */
export function parseDn(input: string): Dn {
  const rdns: Rdn[] = [];
  let i = 0;
  const s = input;
  const skipSpaces = () => {
    while (s[i] === ' ') i++;
  };

  skipSpaces();
  if (i >= s.length) return makeDn([]);

  for (;;) {
    const rdn: Ava[] = [];
    for (;;) {
      skipSpaces();
      // attribute type
      const typeStart = i;
      while (i < s.length && /[A-Za-z0-9.-]/.test(s[i] as string)) i++;
      const type = s.slice(typeStart, i);
      if (!type) throw new DnSyntaxError(input, `expected an attribute type at position ${i + 1}`);
      skipSpaces();
      if (s[i] !== '=') throw new DnSyntaxError(input, `expected "=" after "${type}"`);
      i++;
      skipSpaces();
      const value = parseValue();
      rdn.push({ type: type.toLowerCase(), value });
      skipSpaces();
      if (s[i] === '+') {
        i++;
        continue;
      }
      break;
    }
    rdns.push(rdn);
    if (i >= s.length) break;
    if (s[i] === ',' || s[i] === ';') {
      i++;
      continue;
    }
    throw new DnSyntaxError(input, `unexpected "${s[i]}" at position ${i + 1} (escape it as \\${s[i]})`);
  }
  return makeDn(rdns);

  function parseValue(): string {
    if (s[i] === '#') {
      // BER-encoded value: keep the hex form, compared case-insensitively.
      const start = i;
      i++;
      while (i < s.length && /[0-9a-fA-F]/.test(s[i] as string)) i++;
      return s.slice(start, i);
    }
    if (s[i] === '"') {
      // RFC 2253 quoted value.
      i++;
      let out = '';
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\') {
          i++;
          if (i >= s.length) break;
        }
        out += s[i];
        i++;
      }
      if (s[i] !== '"') throw new DnSyntaxError(input, 'unterminated quoted value');
      i++;
      return out;
    }
    const bytes: number[] = [];
    let trailingUnescapedSpaces = 0;
    while (i < s.length) {
      const c = s[i] as string;
      if (c === ',' || c === '+' || c === ';') break;
      if (c === '\\') {
        const pair = s.slice(i + 1, i + 3);
        if (HEX.test(pair)) {
          bytes.push(parseInt(pair, 16));
          i += 3;
        } else if (i + 1 < s.length && SPECIAL.has(s[i + 1] as string)) {
          bytes.push(...Buffer.from(s[i + 1] as string, 'utf8'));
          i += 2;
        } else {
          throw new DnSyntaxError(input, `invalid escape at position ${i + 1}`);
        }
        trailingUnescapedSpaces = 0;
        continue;
      }
      if (c === '"' || c === '<' || c === '>') {
        throw new DnSyntaxError(input, `"${c}" at position ${i + 1} must be escaped as \\${c}`);
      }
      const cp = s.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(ch, 'utf8'));
      trailingUnescapedSpaces = c === ' ' ? trailingUnescapedSpaces + 1 : 0;
      i += ch.length;
    }
    const value = Buffer.from(bytes.slice(0, bytes.length - trailingUnescapedSpaces)).toString('utf8');
    if (value === '') throw new DnSyntaxError(input, `empty value at position ${i + 1}`);
    return value;
  }
}

function canonicalValue(value: string): string {
  return value.normalize('NFC').toLowerCase().replace(/\s+/g, ' ');
}

function makeDn(rdns: Rdn[]): Dn {
  const key = rdns
    .map((rdn) =>
      [...rdn]
        .map((ava) => `${ava.type}=${encodeURIComponent(canonicalValue(ava.value))}`)
        .sort()
        .join('+'),
    )
    .join(',');
  return { rdns, key };
}

const NOT_SIMPLE = /[\\"+#;<>]/;
const TYPE = /^[A-Za-z0-9.-]+$/;

/**
 * The key of a DN with no escapes, quotes, multi-valued RDNs or hex values (what AD
 * returns for almost every entry), worked out without the full parser; undefined
 * for anything else, which parseDn then handles (errors included). Equal to
 * parseDn(dn).key whenever it answers (a property test holds it to that).
 */
export function simpleDnKey(dn: string): string | undefined {
  if (NOT_SIMPLE.test(dn) || !dn.isWellFormed()) return undefined;
  if (/^ *$/.test(dn)) return '';
  const parts = dn.split(',');
  const out: string[] = new Array<string>(parts.length);
  for (let r = 0; r < parts.length; r++) {
    const part = simpleRdnKey(parts[r] as string);
    if (part === undefined) return undefined;
    out[r] = part;
  }
  return out.join(',');
}

// The RDNs above the leaf (OU=..., DC=...) repeat across entries: their keys are kept,
// up to a bound, so that reading 100,000 entries works each one out once.
const rdnKeys = new Map<string, string>();
const RDN_KEYS_MAX = 10_000;

function simpleRdnKey(rdn: string): string | undefined {
  const known = rdnKeys.get(rdn);
  if (known !== undefined) return known;
  const eq = rdn.indexOf('=');
  if (eq < 0) return undefined;
  const type = rdn.slice(0, eq).replace(/^ +| +$/g, '');
  const value = rdn.slice(eq + 1).replace(/^ +| +$/g, '');
  if (!TYPE.test(type) || value === '') return undefined;
  const key = `${type.toLowerCase()}=${encodeURIComponent(canonicalValue(value))}`;
  if (rdnKeys.size >= RDN_KEYS_MAX) rdnKeys.clear();
  rdnKeys.set(rdn, key);
  return key;
}

/** The canonical key of a DN string (throws DnSyntaxError when it is not a DN). */
export function dnKey(dn: string): string {
  return simpleDnKey(dn) ?? parseDn(dn).key;
}

/** Parses or returns undefined; for values read from AD that should always parse. */
export function tryParseDn(input: string): Dn | undefined {
  try {
    return parseDn(input);
  } catch {
    return undefined;
  }
}

/** True when `dn` is `ancestor` or lies anywhere below it. */
export function isWithin(dn: Dn, ancestor: Dn): boolean {
  return isWithinKey(dn.key, ancestor.key);
}

/** isWithin on canonical keys (commas in a key only ever separate RDNs). */
export function isWithinKey(key: string, ancestorKey: string): boolean {
  return ancestorKey === '' || key === ancestorKey || key.endsWith(`,${ancestorKey}`);
}

/** The canonical key one level up, or undefined for a single-RDN key. */
export function parentKey(key: string): string | undefined {
  const i = key.indexOf(',');
  return i < 0 ? undefined : key.slice(i + 1);
}

/** The DN one level up, or undefined for a single-RDN DN. */
export function parentDn(dn: Dn): Dn | undefined {
  if (dn.rdns.length <= 1) return undefined;
  return makeDn(dn.rdns.slice(1) as Rdn[]);
}

/** The first RDN's value, e.g. "Smith, John" for CN=Smith\, John,OU=... */
export function leafValue(dn: Dn): string | undefined {
  return dn.rdns[0]?.[0]?.value;
}

/** Serialises back to an RFC 4514 string. */
export function formatDn(dn: Dn): string {
  return dn.rdns.map((rdn) => rdn.map((ava) => `${ava.type.toUpperCase()}=${escapeDnValue(ava.value)}`).join('+')).join(',');
}

export function escapeDnValue(value: string): string {
  let out = value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

// ---------------------------------------------------------------------------
// The shape of a DN as a regular expression, in the syntax common to RE2
// (Kubernetes CEL's `matches()`) and JavaScript, so admission (CEL) and the
// schema (zod) accept exactly the same strings. It is stricter than parseDn:
// no RFC 2253 quoted values, attribute types as names or dotted OIDs.

const ATTRIBUTE_TYPE = String.raw`(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)`;
const PAIR = String.raw`\\(?:[0-9A-Fa-f]{2}|[ "#+,;<=>\\])`;
const VALUE = String.raw`(?:#[0-9A-Fa-f]+|(?:${PAIR}|[^ #,+;"\\<>])(?:${PAIR}|[^,+;"\\<>])*)`;
const AVA = ` *${ATTRIBUTE_TYPE} *= *${VALUE} *`;

/** attribute=value pairs separated by commas (or `+` within an RDN), escapes allowed (RFC 4514). */
export const DN_PATTERN = `^${AVA}(?:[,;+]${AVA})*$`;

/** A string that starts like a DN (`attribute=`): an admin group given as a DN rather than by name. */
export const DN_LIKE_PATTERN = `^ *${ATTRIBUTE_TYPE} *=`;

const dnShape = new RegExp(DN_PATTERN);
const dnLike = new RegExp(DN_LIKE_PATTERN);

/** Whether `value` has the shape of a DN (DN_PATTERN). */
export function hasDnShape(value: string): boolean {
  return dnShape.test(value);
}

/** Whether a reference such as an admin group is given as a DN (it starts with `attribute=`), not as a name. */
export function isDnLike(value: string): boolean {
  return dnLike.test(value);
}
