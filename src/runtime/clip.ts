/**
 * Clipping text for objects stored in the API server, where what counts is bytes
 * (etcd, the 1.5 MiB request limit) rather than characters: a CJK name is three
 * bytes a character in UTF-8.
 */

const ELLIPSIS = '…'; // 3 bytes in UTF-8

/**
 * `text` if it fits in `maxBytes` of UTF-8, else its longest prefix that does
 * once "…" is added, never splitting a character (a surrogate pair included).
 * The result also has at most `maxBytes` UTF-16 units, so a schema's maxLength
 * of that size holds.
 */
export function clipBytes(text: string, maxBytes: number): string {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text) <= maxBytes) return text;
  const budget = maxBytes - Buffer.byteLength(ELLIPSIS);
  if (budget <= 0) return '';
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > budget) break;
    bytes += n;
    end += ch.length;
  }
  return `${text.slice(0, end)}${ELLIPSIS}`;
}

/** UTF-8 bytes of a value as JSON. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}
