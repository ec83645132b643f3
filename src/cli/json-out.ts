/**
 * Prints a value as `JSON.stringify(value, null, 2)` would, without building the
 * whole text at once: a preview of 100,000 users is tens of MB of JSON, so arrays
 * are written an element at a time, in chunks of about 64 KiB.
 */
const CHUNK = 64 * 1024;

export function writeJson(write: (text: string) => void, value: unknown): void {
  let buf = '';
  const out = (s: string) => {
    buf += s;
    if (buf.length >= CHUNK) {
      write(buf);
      buf = '';
    }
  };
  emit(value, '', out);
  write(`${buf}\n`);
}

/** JSON.stringify's text for `value`, indented to sit at `indent`. */
function whole(value: unknown, indent: string): string {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return indent === '' ? text : text.replace(/\n/g, `\n${indent}`);
}

/** Objects are walked to find arrays; each array element is written whole. */
function emit(value: unknown, indent: string, out: (s: string) => void): void {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return out('[]');
    out('[');
    for (let i = 0; i < value.length; i++) out(`${i > 0 ? ',' : ''}\n${inner}${whole(value[i], inner)}`);
    return out(`\n${indent}]`);
  }
  if (value !== null && typeof value === 'object' && !('toJSON' in value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol');
    if (entries.length === 0) return out('{}');
    out('{');
    entries.forEach(([k, v], i) => {
      out(`${i > 0 ? ',' : ''}\n${inner}${JSON.stringify(k)}: `);
      emit(v, inner, out);
    });
    return out(`\n${indent}}`);
  }
  // scalars, and objects with toJSON (Date)
  out(whole(value, indent));
}
