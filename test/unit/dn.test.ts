import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dnKey, DnSyntaxError, escapeDnValue, formatDn, isWithin, leafValue, parentDn, parseDn, simpleDnKey } from '../../src/ldap/dn.ts';

describe('DN parsing and comparison (RFC 4514)', () => {
  it.each([
    ['OU=Service Accounts,DC=corp,DC=example,DC=com', 'ou=service accounts,dc=CORP,dc=Example,dc=com'],
    ['OU=Service Accounts, DC=corp, DC=example, DC=com', 'OU=Service Accounts,DC=corp,DC=example,DC=com'],
    ['CN=Smith\\, John,OU=Staff,DC=corp', 'cn=smith\\2c john,ou=staff,dc=corp'],
    ['CN=Smith\\2C John,OU=Staff,DC=corp', 'CN=Smith\\, John, OU=Staff ,DC=corp'],
    ['CN=Jos\\C3\\A9 M\\C3\\BCller,DC=corp', 'CN=José Müller,DC=corp'],
    ['CN=Zoë Ørsted,DC=corp', 'cn=ZOË ØRSTED,dc=corp'],
    ['CN="Smith, John",DC=corp', 'CN=Smith\\, John,DC=corp'],
  ])('%s equals %s', (a, b) => {
    expect(parseDn(a).key).toBe(parseDn(b).key);
  });

  it.each([
    ['CN=Smith\\, John,OU=Staff,DC=corp', 'CN=Smith,OU=Staff,DC=corp'],
    ['OU=Sales,DC=corp', 'OU=Sales2,DC=corp'],
    ['CN=a\\ ,DC=corp', 'CN=a,DC=corp'],
  ])('%s differs from %s', (a, b) => {
    expect(parseDn(a).key).not.toBe(parseDn(b).key);
  });

  it('decodes escaped commas in values', () => {
    expect(leafValue(parseDn('CN=Smith\\, John,OU=Staff,DC=corp'))).toBe('Smith, John');
  });

  it('an OU contains everything below it, at any depth, and itself; not its siblings', () => {
    const ou = parseDn('OU=Staff,DC=corp,DC=example,DC=com');
    expect(isWithin(parseDn('CN=Ada,OU=Platform,OU=Engineering,OU=Staff,DC=corp,DC=example,DC=com'), ou)).toBe(true);
    expect(isWithin(parseDn('ou=staff,dc=corp,dc=example,dc=com'), ou)).toBe(true);
    expect(isWithin(parseDn('CN=Bob,OU=Staff2,DC=corp,DC=example,DC=com'), ou)).toBe(false);
    expect(isWithin(parseDn('CN=Staff\\,OU=x,OU=Other,DC=corp,DC=example,DC=com'), ou)).toBe(false);
    expect(isWithin(parseDn('DC=corp,DC=example,DC=com'), ou)).toBe(false);
  });

  it('a value that merely ends like the OU is not inside it', () => {
    const ou = parseDn('OU=Staff,DC=corp');
    expect(isWithin(parseDn('CN=x,OU=Old Staff,DC=corp'), ou)).toBe(false);
    // The escaped comma makes "x,OU=Staff" one CN value directly under DC=corp.
    expect(isWithin(parseDn('CN=x\\,OU=Staff,DC=corp'), ou)).toBe(false);
  });

  it('parentDn walks up one RDN', () => {
    expect(formatDn(parentDn(parseDn('CN=Smith\\, John,OU=Staff,DC=corp'))!)).toBe('OU=Staff,DC=corp');
    expect(parentDn(parseDn('DC=corp'))).toBeUndefined();
  });

  it.each(['', 'CN', 'CN=a,', '=x', 'CN=a,b', 'CN=a"b', 'CN=a\\zz'])('refuses %j with a clear error', (bad) => {
    if (bad === '') {
      expect(parseDn(bad).rdns).toHaveLength(0);
      return;
    }
    expect(() => parseDn(bad)).toThrow(DnSyntaxError);
    expect(() => parseDn(bad)).toThrow(/is not a valid distinguished name/);
  });

  it('formatting then parsing gives the same DN for any values', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.trim() === s && s.length > 0), { minLength: 1, maxLength: 5 }), (values) => {
        const text = values.map((v, i) => `${i === 0 ? 'CN' : 'OU'}=${escapeDnValue(v)}`).join(',');
        const dn = parseDn(text);
        expect(dn.rdns.map((r) => r[0]?.value)).toEqual(values);
        expect(parseDn(formatDn(dn)).key).toBe(dn.key);
      }),
    );
  });
});

describe('the key of a DN as read from AD', () => {
  // DN-ish text: the separators, escapes and spaces the parser cares about, letters and
  // non-ASCII characters (a lone surrogate included).
  const unit = fc.constantFrom('C', 'N', 'o', 'u', 'Ü', 'é', '1', '.', '-', '=', ',', ' ', '\t', '+', ';', '#', '"', '\\', '<', '>', '2C', '\uD800', '日');
  const dnish = fc.string({ unit, maxLength: 30 });
  const plain = fc.array(fc.tuple(fc.constantFrom('CN', 'ou', 'DC', ' OU ', '1.2.3', '\tou', 'C N', ''), fc.string({ unit: fc.constantFrom('a', 'B', ' ', 'Ö', '日', '=', '\t', '1', '\uD800'), minLength: 1, maxLength: 8 })), { minLength: 1, maxLength: 5 })
    .map((rdns) => rdns.map(([t, v]) => `${t}=${v}`).join(','));

  it('is the full parser\'s key whenever the shortcut answers, and refuses what the parser refuses', () => {
    fc.assert(
      fc.property(fc.oneof(dnish, plain), (dn) => {
        const quick = simpleDnKey(dn);
        let full: string | DnSyntaxError;
        try {
          full = parseDn(dn).key;
        } catch (err) {
          full = err as DnSyntaxError;
        }
        if (quick !== undefined) expect(quick).toBe(full);
        if (typeof full === 'string') expect(dnKey(dn)).toBe(full);
        else expect(() => dnKey(dn)).toThrow(DnSyntaxError);
      }),
      { numRuns: 5000 },
    );
  });

  it('answers for the DNs AD returns for users, and leaves escaped ones to the parser', () => {
    expect(simpleDnKey('CN=Jörg Müller,OU=Team 7,OU=Staff,DC=corp,DC=example,DC=com')).toBe('cn=j%C3%B6rg%20m%C3%BCller,ou=team%207,ou=staff,dc=corp,dc=example,dc=com');
    expect(simpleDnKey('CN=Smith\\, John,OU=Sales,DC=corp')).toBeUndefined();
    expect(dnKey('CN=Smith\\, John,OU=Sales,DC=corp')).toBe('cn=smith%2C%20john,ou=sales,dc=corp');
  });
});

