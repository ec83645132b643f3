/**
 * LDAP filters (RFC 4515) as objects: the one place that parses, validates and
 * composes them. ldapts parses and serialises; its parser is lenient (it closes
 * unbalanced parentheses at the end of the string and wraps a bare item in
 * parentheses), so a strict structural check runs first: the whole string must
 * be exactly one filter, parentheses balanced and unescaped only as structure,
 * every escape a backslash and two hex digits. Whatever is wrong is reported
 * with its position and the text around it.
 *
 * Composition never pastes strings: searches get Filter objects, and values are
 * put in as values (ldapts sends them as BER octet strings), so nothing in a
 * group name or DN can change a filter's structure. Their string form
 * (`toString()`, for logs and messages) escapes `*`, `(`, `)`, `\` and NUL.
 */
import {
  AndFilter,
  EqualityFilter,
  ExtensibleFilter,
  Filter,
  FilterParser,
  GreaterThanEqualsFilter,
  NotFilter,
  OrFilter,
  PresenceFilter,
  SubstringFilter,
} from 'ldapts';

export type { Filter } from 'ldapts';

/** A filter string that is not exactly one valid filter; `position` is 1-based. */
export class FilterSyntaxError extends Error {
  readonly position: number;
  readonly problem: string;

  constructor(input: string, index: number, problem: string, hint?: string) {
    super(`${problem} (position ${index + 1}): ${excerpt(input, index)}${hint ? `; ${hint}` : ''}`);
    this.name = 'FilterSyntaxError';
    this.position = index + 1;
    this.problem = problem;
  }
}

const BEFORE = 40;
const AFTER = 25;

/** The text around `index`, quoted, with » just before the character at `index`. */
export function excerpt(input: string, index: number): string {
  const from = Math.max(0, index - BEFORE);
  const to = Math.min(input.length, index + AFTER);
  const before = `${from > 0 ? '…' : ''}${input.slice(from, index)}`;
  const after = `${input.slice(index, to)}${to < input.length ? '…' : ''}`;
  return `"${before}»${after}"`;
}

type FrameKind = '&' | '|' | '!' | 'item';

interface Frame {
  kind: FrameKind;
  /** Index of its "(". */
  open: number;
  children: number;
}

/** Where an item (attribute=value, ...) sits in the input: the indexes of its "(" and ")". */
interface ItemSpan {
  open: number;
  close: number;
}

const HEX2 = /^[0-9A-Fa-f]{2}$/;
const ESCAPE_HINT = 'in a value write ( as \\28, ) as \\29, * as \\2a and \\ as \\5c';

/**
 * Checks that `input` is exactly one filter structurally: "(" ... ")" nested
 * properly, "&" and "|" holding one or more filters, "!" exactly one, nothing
 * between or after them, no unescaped parenthesis in a value, every escape
 * a backslash and two hex digits. Returns where the items are.
 */
function scanStructure(input: string): ItemSpan[] {
  if (input.length === 0) throw new FilterSyntaxError(input, 0, 'the filter is empty', 'give one filter in parentheses, for example (objectClass=user)');
  if (input[0] !== '(') {
    const example = input.includes('=') && !input.startsWith(')') && input.length <= 60 ? `(${input})` : '(objectClass=user)';
    throw new FilterSyntaxError(input, 0, 'a filter must start with "("', `put the whole filter in parentheses, for example ${example}`);
  }
  const items: ItemSpan[] = [];
  const stack: Frame[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    const top = stack[stack.length - 1];
    if (top?.kind === 'item') {
      if (c === '\\') {
        const pair = input.slice(i + 1, i + 3);
        if (!HEX2.test(pair)) throw new FilterSyntaxError(input, i, 'a backslash must be followed by two hex digits', ESCAPE_HINT);
        i += 3;
        continue;
      }
      if (c === '(') throw new FilterSyntaxError(input, i, 'unescaped "(" in a value', 'write it as \\28 (and ")" as \\29)');
      if (c === ')') {
        if (i === top.open + 1) throw new FilterSyntaxError(input, top.open, 'empty filter "()"', 'an item looks like (attribute=value)');
        items.push({ open: top.open, close: i });
        closeFrame(input, stack, i);
      }
      i++;
      continue;
    }
    if (top === undefined) {
      // Only at the very start: closing the outermost filter elsewhere ends the scan.
      pushFrame(input, stack, i);
      i += stack[stack.length - 1]?.kind === 'item' ? 1 : 2;
      continue;
    }
    if (c === '(') {
      if (top.kind === '!' && top.children >= 1) {
        throw new FilterSyntaxError(input, i, '"(!" takes exactly one filter', 'to negate several, write (!(|(a=1)(b=2)))');
      }
      pushFrame(input, stack, i);
      i += stack[stack.length - 1]?.kind === 'item' ? 1 : 2;
      continue;
    }
    if (c === ')') {
      if (top.children === 0) {
        throw new FilterSyntaxError(input, i, `"(${top.kind}" without a filter inside`, top.kind === '!' ? 'write (!(attribute=value))' : `write (${top.kind}(a=1)(b=2))`);
      }
      closeFrame(input, stack, i);
      i++;
      continue;
    }
    throw new FilterSyntaxError(
      input,
      i,
      `unexpected ${describeChar(c)} inside "(${top.kind}"`,
      'only filters in parentheses may follow "&", "|" and "!", with nothing (not even a space) between them',
    );
  }
  if (stack.length > 0) {
    const opens = stack.map((f) => f.open + 1);
    const where = opens.length === 1 ? `the "(" at position ${opens[0]} is` : `the "(" at positions ${opens.slice(0, -1).join(', ')} and ${opens[opens.length - 1]} are`;
    throw new FilterSyntaxError(input, input.length, `${stack.length} closing ")" missing at the end`, `${where} never closed`);
  }
  return items;
}

function describeChar(c: string): string {
  if (c === ' ') return 'space';
  if (/\s/.test(c)) return 'whitespace';
  return `"${c}"`;
}

function pushFrame(input: string, stack: Frame[], i: number): void {
  const next = input[i + 1];
  const kind: FrameKind = next === '&' || next === '|' || next === '!' ? next : 'item';
  stack.push({ kind, open: i, children: 0 });
}

function closeFrame(input: string, stack: Frame[], i: number): void {
  stack.pop();
  const parent = stack[stack.length - 1];
  if (parent) {
    parent.children++;
    return;
  }
  if (i !== input.length - 1) {
    const rest = input.slice(i + 1);
    if (rest.startsWith(')')) throw new FilterSyntaxError(input, i + 1, 'one ")" too many', `the filter already ends at position ${i + 1}`);
    throw new FilterSyntaxError(
      input,
      i + 1,
      'text after the end of the filter',
      `the filter ends at position ${i + 1}, and a filter is exactly one (...): to require several conditions combine them as (&(a=1)(b=2)), to allow any of them as (|(a=1)(b=2))`,
    );
  }
}

/**
 * The canonical string form of one item: escapes decoded (runs of them as UTF-8,
 * so `\c3\a9` is "é") and re-escaped the way ldapts serialises values, so the
 * item reads back identically. ldapts decodes each escape as one character,
 * which is wrong for multi-byte UTF-8: decoding here first keeps non-ASCII
 * values intact on the wire.
 */
function canonicalItem(input: string, span: ItemSpan): string {
  // Attribute descriptions and matching rules never hold "=": the value starts after the first one.
  const valueStart = input.indexOf('=', span.open);
  let out = '';
  let i = span.open;
  while (i <= span.close) {
    if (input[i] === '\\' && (valueStart < 0 || valueStart > span.close || i < valueStart)) {
      throw new FilterSyntaxError(input, i, 'an escape before the "="', 'escapes are only allowed in values; attribute names and matching rules are written as they are');
    }
    if (input[i] === '\0') throw nulInValue(input, i);
    if (input[i] !== '\\') {
      out += input[i];
      i++;
      continue;
    }
    const start = i;
    const bytes: number[] = [];
    while (input[i] === '\\' && i + 2 <= span.close) {
      bytes.push(Number.parseInt(input.slice(i + 1, i + 3), 16));
      i += 3;
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
    } catch {
      throw new FilterSyntaxError(
        input,
        start,
        `the escaped bytes "${input.slice(start, i)}" are not UTF-8 text`,
        'escape non-ASCII characters as their UTF-8 bytes (é is \\c3\\a9) or write them as they are; binary values such as objectGUID cannot be matched here',
      );
    }
    if (text.includes('\0')) throw nulInValue(input, start);
    for (const ch of text) out += Filter.escape(ch);
  }
  return out;
}

/** A NUL in a value: directory servers may end the value there (Samba does), so the filter would match more than it says. */
function nulInValue(input: string, index: number): FilterSyntaxError {
  return new FilterSyntaxError(input, index, 'a NUL character (\\00) in a value', 'directory servers may read the value only up to it, so the filter would match more than it says; remove it');
}

const ITEM_FORMS = 'an item is (attribute=value), (attribute=*), (attribute=a*b), (attribute>=value), (attribute<=value), (attribute~=value) or (attribute:rule:=value), for example (userAccountControl:1.2.840.113556.1.4.803:=2)';

function cleanLdaptsMessage(message: string): string {
  return message.replace(/\. Full string: .*$/s, '').replace(/: .*$/s, '');
}

function parseItem(input: string, span: ItemSpan, text: string): Filter {
  let item: Filter;
  try {
    item = FilterParser.parseString(text);
  } catch (err) {
    const why = cleanLdaptsMessage(err instanceof Error ? err.message : String(err));
    throw new FilterSyntaxError(input, span.open, `"${input.slice(span.open, span.close + 1)}" is not a valid item (${why.toLowerCase()})`, ITEM_FORMS);
  }
  if (item instanceof SubstringFilter && item.any.some((part) => part === '')) {
    throw new FilterSyntaxError(input, span.open, `two "*" in a row in "${input.slice(span.open, span.close + 1)}"`, 'write one * for any text');
  }
  if (item.toString().toLowerCase() !== text.toLowerCase()) {
    throw new FilterSyntaxError(input, span.open, `"${input.slice(span.open, span.close + 1)}" is not understood as written (it reads as ${item.toString()})`, ITEM_FORMS);
  }
  return item;
}

/**
 * Parses a filter string that must be exactly one RFC 4515 filter (with AD's
 * extensible-match rules). Throws FilterSyntaxError saying where it breaks.
 */
export function parseFilter(input: string): Filter {
  const items = scanStructure(input);
  let canonical = '';
  let at = 0;
  for (const span of items) {
    const text = canonicalItem(input, span);
    parseItem(input, span, text);
    canonical += input.slice(at, span.open) + text;
    at = span.close + 1;
  }
  canonical += input.slice(at);
  const filter = FilterParser.parseString(canonical);
  if (filter.toString().toLowerCase() !== canonical.toLowerCase()) {
    // Every item and the structure were checked above; this guards ldapts changing its reading.
    throw new FilterSyntaxError(input, 0, `the filter is not understood as written (it reads as ${filter.toString()})`);
  }
  return filter;
}

/** The reason a filter string is refused, or undefined when it is exactly one valid filter. */
export function filterProblem(input: string): FilterSyntaxError | undefined {
  try {
    parseFilter(input);
    return undefined;
  } catch (err) {
    if (err instanceof FilterSyntaxError) return err;
    throw err;
  }
}

// ---------------------------------------------------------------------------
// composition: values go in as values, never as filter text

/** All of the filters (one filter is returned as it is). */
export function and(...filters: Filter[]): Filter {
  if (filters.length === 0) throw new Error('and() needs at least one filter');
  return filters.length === 1 ? (filters[0] as Filter) : new AndFilter({ filters });
}

/** Any of the filters (one filter is returned as it is). */
export function or(...filters: Filter[]): Filter {
  if (filters.length === 0) throw new Error('or() needs at least one filter');
  return filters.length === 1 ? (filters[0] as Filter) : new OrFilter({ filters });
}

export function not(filter: Filter): Filter {
  return new NotFilter({ filter });
}

/** (attribute=value), the value taken literally: `*` is a star, not a wildcard. */
export function equals(attribute: string, value: string): Filter {
  return new EqualityFilter({ attribute, value });
}

/** (attribute=*) */
export function present(attribute: string): Filter {
  return new PresenceFilter({ attribute });
}

/** (attribute:rule:=value), e.g. memberOf with LDAP_MATCHING_RULE_IN_CHAIN. */
export function matchingRule(attribute: string, rule: string, value: string): Filter {
  return new ExtensibleFilter({ matchType: attribute, rule, value });
}

/** (attribute>=value), e.g. uSNChanged at or above a USN (an integer, compared as one by AD). */
export function atLeast(attribute: string, value: string): Filter {
  return new GreaterThanEqualsFilter({ attribute, value });
}
