/**
 * Prints a value as `JSON.stringify(value, null, 2)` would, without building the
 * whole text at once: a preview of 100,000 users is tens of MB of JSON, so arrays
 * are written an element at a time, in chunks of about 64 KiB, and when `write`
 * says the stream is full (false, as stream.write does: stdout into a pipe buffers
 * without limit otherwise) the next chunk waits for `drained`.
 */
const CHUNK = 64 * 1024;

export async function writeJson(write: (text: string) => boolean | void, value: unknown, drained?: () => Promise<void>): Promise<void> {
  for (const chunk of jsonChunks(value)) {
    if (write(chunk) === false && drained) await drained();
  }
}

/** The text of `JSON.stringify(value, null, 2)` and a newline, in chunks of about 64 KiB. */
export function* jsonChunks(value: unknown): Generator<string> {
  let buf = '';
  for (const piece of emit(value, '')) {
    buf += piece;
    if (buf.length >= CHUNK) {
      yield buf;
      buf = '';
    }
  }
  yield `${buf}\n`;
}

/** JSON.stringify's text for `value`, indented to sit at `indent`. */
function whole(value: unknown, indent: string): string {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return indent === '' ? text : text.replace(/\n/g, `\n${indent}`);
}

/** Objects are walked to find arrays; each array element is written whole. */
function* emit(value: unknown, indent: string): Generator<string> {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return yield '[]';
    yield '[';
    for (let i = 0; i < value.length; i++) yield `${i > 0 ? ',' : ''}\n${inner}${whole(value[i], inner)}`;
    return yield `\n${indent}]`;
  }
  if (value !== null && typeof value === 'object' && !('toJSON' in value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol');
    if (entries.length === 0) return yield '{}';
    yield '{';
    for (const [i, [k, v]] of entries.entries()) {
      yield `${i > 0 ? ',' : ''}\n${inner}${JSON.stringify(k)}: `;
      yield* emit(v, inner);
    }
    return yield `\n${indent}}`;
  }
  // scalars, and objects with toJSON (Date)
  yield whole(value, indent);
}
