/**
 * Follows the LDAP messages (BER frames: a tag, a length, the content) in the bytes a
 * DC sends, without parsing them, so that a message announcing itself as larger than
 * `maxMessageBytes` is refused on its first bytes, before ldapts buffers it (it keeps
 * concatenating a message's chunks until the whole message is there).
 */
export class FrameGuard {
  readonly #maxMessageBytes: number;
  /** Bytes of the current message's content still to come. */
  #remaining = 0;
  /** Header bytes of the next message, when a chunk ended inside one. */
  #header: number[] = [];

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Feeds received bytes; returns the announced length of a message over the limit, else undefined. */
  push(chunk: Uint8Array): number | undefined {
    let at = 0;
    while (at < chunk.length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - at);
        this.#remaining -= n;
        at += n;
        continue;
      }
      this.#header.push(chunk[at]!);
      at++;
      const length = headerLength(this.#header);
      if (length === undefined) continue;
      this.#header = [];
      if (length > this.#maxMessageBytes) return length;
      this.#remaining = length;
    }
    return undefined;
  }
}

/** The content length once `header` (tag, length octets) is complete; undefined while it is not. */
function headerLength(header: readonly number[]): number | undefined {
  if (header.length < 2) return undefined;
  const first = header[1]!;
  if ((first & 0x80) === 0) return first;
  const octets = first & 0x7f;
  // More than 4 length octets (or the indefinite form, which LDAP forbids) announces more than anything may hold.
  if (octets === 0 || octets > 4) return Number.MAX_SAFE_INTEGER;
  if (header.length < 2 + octets) return undefined;
  let n = 0;
  for (let i = 0; i < octets; i++) n = n * 256 + header[2 + i]!;
  return n;
}
