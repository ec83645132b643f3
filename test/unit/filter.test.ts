import fc from 'fast-check';
import { AndFilter, BerReader, BerWriter, EqualityFilter, ExtensibleFilter, FilterParser, NotFilter, OrFilter, PresenceFilter, SubstringFilter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { and, equals, FilterSyntaxError, matchingRule, not, or, parseFilter, present, type Filter } from '../../src/ldap/filter.ts';
import { directMembersFilter, groupsDirectlyInFilter } from '../../src/ldap/membership-filters.ts';

// The filter of the issue: a userFilter missing its last two parentheses.
const BROKEN =
  '(&(objectCategory=person)(objectClass=user)(|(userPrincipalName=alan.turing@corp.example.com)(userPrincipalName=ken.thompson@corp.example.com)';

function refusal(input: string): FilterSyntaxError {
  try {
    parseFilter(input);
  } catch (err) {
    if (err instanceof FilterSyntaxError) return err;
    throw err;
  }
  throw new Error(`${JSON.stringify(input)} was accepted`);
}

/** What goes on the wire: the filter as BER, decoded back by ldapts. */
function wire(filter: Filter): Filter {
  const writer = new BerWriter();
  filter.write(writer);
  return FilterParser.parse(new BerReader(writer.buffer));
}

function berHex(filter: Filter): string {
  const writer = new BerWriter();
  filter.write(writer);
  return writer.buffer.toString('hex');
}

describe('parseFilter: exactly one RFC 4515 filter, or a message that shows where it breaks', () => {
  it('refuses the filter of the issue (its last two parentheses missing), pointing at the end', () => {
    const e = refusal(BROKEN);
    expect(e.position).toBe(BROKEN.length + 1);
    expect(e.message).toBe(
      `2 closing ")" missing at the end (position ${BROKEN.length + 1}): "…cipalName=ken.thompson@corp.example.com)»"; the "(" at positions 1 and 44 are never closed`,
    );
    // ldapts alone reads it, closing the parentheses itself: the leniency this guards against
    expect(FilterParser.parseString(BROKEN).toString()).toBe(`${BROKEN}))`);
  });

  it('refuses two filters side by side, and says how to combine them', () => {
    const e = refusal('(objectClass=user)(cn=*)');
    expect(e.position).toBe(19);
    expect(e.message).toMatch(/^text after the end of the filter \(position 19\): "\(objectClass=user\)»\(cn=\*\)"; the filter ends at position 18.*\(&\(a=1\)\(b=2\)\)/);
  });

  it.each([
    ['(&(a=1)(b=2)))', 14, /one "\)" too many/],
    ['(&(a=1)(|(b=2)(c=3))', 21, /1 closing "\)" missing at the end/],
    ['(!(a=1)', 8, /1 closing "\)" missing/],
    ['(cn=Smith (IT))', 11, /unescaped "\(" in a value.*write it as \\28/],
    ['objectClass=user', 1, /must start with "\(".*for example \(objectClass=user\)/],
    ['(& (a=1))', 3, /unexpected space inside "\(&"/],
    ['(&(a=1)\n(b=2))', 8, /unexpected whitespace/],
    ['(!(a=1)(b=2))', 8, /"\(!" takes exactly one filter/],
    ['(&)', 3, /"\(&" without a filter inside/],
    ['()', 1, /empty filter/],
    ['', 1, /the filter is empty/],
    ['(cn=a\\q)', 6, /a backslash must be followed by two hex digits/],
    ['(cn=a\\2)', 6, /a backslash must be followed by two hex digits/],
    ['(cn=\\ff)', 5, /"\\ff" are not UTF-8 text/],
    ['(c\\6e=x)', 3, /an escape before the "="/],
    ['(cn~a)', 1, /"\(cn~a\)" is not a valid item \(invalid expression\)/],
    ['(cn;lang-en=x)', 1, /is not a valid item/],
    ['(cn=a**b)', 1, /two "\*" in a row/],
    ['(cn=mary.jackson\\00)', 17, /a NUL character \(\\00\) in a value.*read the value only up to it/],
    ['(cn=a\0b)', 6, /a NUL character/],
  ])('refuses %j at position %i', (input, position, message) => {
    const e = refusal(input);
    expect(e.position).toBe(position);
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`(position ${position})`);
  });

  it('accepts escaped parentheses in a value, and keeps them a value', () => {
    const f = parseFilter('(cn=Smith \\28IT\\29)');
    expect(f).toBeInstanceOf(EqualityFilter);
    expect((f as EqualityFilter).value).toBe('Smith (IT)');
    expect(f.toString()).toBe('(cn=Smith \\28IT\\29)');
  });

  it('reads *, \\ and non-ASCII in values as values: escaped, as UTF-8 bytes, or as they are', () => {
    const value = (s: string) => (parseFilter(s) as EqualityFilter).value;
    expect(value('(cn=Ops\\2aAdmins)')).toBe('Ops*Admins');
    expect(value('(cn=Ops\\2AAdmins)')).toBe('Ops*Admins');
    expect(value('(cn=Back\\5cslash)')).toBe('Back\\slash');
    expect(value('(cn=Jos\\c3\\a9 M\\C3\\BCller)')).toBe('José Müller');
    expect(value('(cn=李雷)')).toBe('李雷');
    expect(value('(cn=\\e6\\9d\\8e\\e9\\9b\\b7)')).toBe('李雷');
    // on the wire: the UTF-8 bytes of "José", not those of the four characters ldapts alone would decode "\c3\a9" into
    expect(berHex(parseFilter('(cn=Jos\\c3\\a9)'))).toBe(berHex(equals('cn', 'José')));
    expect(berHex(FilterParser.parseString('(cn=Jos\\c3\\a9)'))).not.toBe(berHex(equals('cn', 'José')));
  });

  it('accepts what AD users write: the default filter, extensible matches, substrings, presence, ranges', () => {
    for (const f of [
      '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
      '(memberOf:1.2.840.113556.1.4.1941:=CN=IT-Admins,OU=Groups,DC=corp,DC=example,DC=com)',
      '(|(mail=*@corp.example.com)(cn=a*b*c))',
      '(&(whenChanged>=20240101000000.0Z)(badPwdCount<=3)(cn~=smith))',
      '(cn:dn:=Sales)',
      '(memberOf=CN=Smith\\5c, John,OU=Groups,DC=corp)',
    ]) {
      expect(parseFilter(f).toString()).toBe(f);
    }
    const uac = parseFilter('(userAccountControl:1.2.840.113556.1.4.803:=2)') as ExtensibleFilter;
    expect(uac).toMatchObject({ matchType: 'userAccountControl', rule: '1.2.840.113556.1.4.803', value: '2' });
    expect(parseFilter('(cn=a*b)')).toBeInstanceOf(SubstringFilter);
    expect(parseFilter('(cn=*)')).toBeInstanceOf(PresenceFilter);
  });
});

// ---------------------------------------------------------------------------
// generated filters

const attribute = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/);
const valueChar = fc.oneof(
  fc.constantFrom('*', '(', ')', '\\', ' ', '=', ',', 'é', 'Ø', '李', '😀'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((c) => c !== '\0'),
);
const value = fc.string({ unit: valueChar, maxLength: 12 });
const oid = fc.array(fc.integer({ min: 0, max: 99999 }), { minLength: 2, maxLength: 9 }).map((parts) => parts.join('.'));

const item: fc.Arbitrary<Filter> = fc.oneof(
  fc.tuple(attribute, value).map(([a, v]) => equals(a, v)),
  attribute.map((a) => present(a)),
  fc.tuple(attribute, oid, value).map(([a, r, v]) => matchingRule(a, r, v)),
  fc
    .tuple(attribute, value, fc.array(fc.string({ unit: valueChar, minLength: 1, maxLength: 6 }), { maxLength: 3 }), value)
    // (attr=*) is presence: a substring filter has at least one part
    .filter(([, initial, any, final]) => initial !== '' || any.length > 0 || final !== '')
    .map(([attr, initial, any, final]) => new SubstringFilter({ attribute: attr, initial, any, final })),
);

const { filter: anyFilter } = fc.letrec<{ filter: Filter }>((tie) => ({
  filter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    item,
    fc.array(tie('filter'), { minLength: 1, maxLength: 4 }).map((filters) => new AndFilter({ filters })),
    fc.array(tie('filter'), { minLength: 1, maxLength: 4 }).map((filters) => new OrFilter({ filters })),
    tie('filter').map((f) => new NotFilter({ filter: f })),
  ),
}));

describe('properties over generated filters', () => {
  it('the string form of any filter parses back to the same filter, value for value on the wire', () => {
    fc.assert(
      fc.property(anyFilter, (f) => {
        const text = f.toString();
        const parsed = parseFilter(text);
        expect(parsed.toString()).toBe(text);
        expect(berHex(parsed)).toBe(berHex(f));
      }),
      { numRuns: 400 },
    );
  });

  it('a filter missing any number of its last characters is refused, never completed', () => {
    fc.assert(
      fc.property(anyFilter, fc.integer({ min: 1, max: 1000 }), (f, cut) => {
        const text = f.toString();
        const truncated = text.slice(0, Math.max(0, text.length - cut));
        expect(() => parseFilter(truncated)).toThrow(FilterSyntaxError);
      }),
      { numRuns: 300 },
    );
  });

  it('a NUL in any value is refused (a directory may cut the value there and match more)', () => {
    fc.assert(
      fc.property(attribute, value, value, (a, before, after) => {
        expect(refusal(equals(a, `${before}\0${after}`).toString()).message).toMatch(/a NUL character/);
      }),
      { numRuns: 200 },
    );
  });

  it('two filters side by side are refused', () => {
    fc.assert(
      fc.property(anyFilter, anyFilter, (a, b) => {
        expect(refusal(`${a.toString()}${b.toString()}`).position).toBe(a.toString().length + 1);
      }),
      { numRuns: 200 },
    );
  });

  it('membership searches carry group DNs as values, whatever the DN: one memberOf term per group, OR-ed, under the group clause', () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), (groupDNs) => {
        const terms = groupDNs.map((dn) => new EqualityFilter({ attribute: 'memberOf', value: dn }));
        const direct = terms.length === 1 ? (terms[0] as Filter) : new OrFilter({ filters: terms });
        expect(berHex(directMembersFilter(groupDNs))).toBe(berHex(direct));
        expect(berHex(groupsDirectlyInFilter(groupDNs))).toBe(berHex(new AndFilter({ filters: [new EqualityFilter({ attribute: 'objectClass', value: 'group' }), direct] })));
      }),
      { numRuns: 300 },
    );
  });
});

describe('composition', () => {
  it('and/or of one filter is that filter; of several, an AND/OR of them', () => {
    const a = equals('cn', 'a');
    expect(and(a)).toBe(a);
    expect(or(a)).toBe(a);
    expect(and(a, present('mail')).toString()).toBe('(&(cn=a)(mail=*))');
    expect(or(a, not(present('mail'))).toString()).toBe('(|(cn=a)(!(mail=*)))');
    expect(() => and()).toThrow();
  });

  it('values are sent as values: a group name cannot change the structure of the search', () => {
    const f = wire(and(equals('objectClass', 'group'), equals('cn', 'x)(objectClass=*')));
    expect((f as AndFilter).filters).toHaveLength(2);
    expect((f as AndFilter).filters[1]).toMatchObject({ attribute: 'cn', value: 'x)(objectClass=*' });
    expect(equals('cn', 'x)(objectClass=*').toString()).toBe('(cn=x\\29\\28objectClass=\\2a)');
  });
});
