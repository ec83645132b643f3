// Hostile servers on loopback, for the bounds of a run (issue 18): an LDAP server
// that accepts TCP and never answers, one that answers every search with entries
// for ever (a small BER writer: just enough LDAP for a bind and a search), and an
// HTTP server that drips a body or streams an endless one. Nothing is allocated
// per byte sent: the same small buffers are written again, with back-pressure.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';

export interface Hostile {
  url: string;
  /** Connections accepted. */
  connections: number;
  /** Bytes written to clients so far. */
  sent: number;
  close(): Promise<void>;
}

function berLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), berLength(body.length), body]);
}

const octets = (s: string) => tlv(0x04, Buffer.from(s, 'utf8'));
const integer = (n: number) => tlv(0x02, Buffer.from(n < 0x80 ? [n] : [n >> 8, n & 0xff]));

/** LDAPMessage { messageID, protocolOp } */
function message(id: number, op: Buffer): Buffer {
  return tlv(0x30, integer(id), op);
}

/** BindResponse: success. */
function bindResponse(id: number): Buffer {
  return message(id, tlv(0x61, tlv(0x0a, Buffer.from([0])), octets(''), octets('')));
}

/** SearchResultEntry with a few attributes, as AD would send a user. */
function searchEntry(id: number, n: number): Buffer {
  const attr = (type: string, value: string) => tlv(0x30, octets(type), tlv(0x31, octets(value)));
  return message(
    id,
    tlv(0x64, octets(`CN=User ${n},OU=Endless,DC=corp,DC=example,DC=com`), tlv(0x30, attr('userPrincipalName', `user${n}@corp.example.com`), attr('displayName', `User ${n}`), attr('cn', `User ${n}`))),
  );
}

/** The messageID and protocolOp tag of each complete LDAPMessage in `buf`; returns the unread rest. */
function readMessages(buf: Buffer): { messages: Array<{ id: number; op: number }>; rest: Buffer } {
  const messages: Array<{ id: number; op: number }> = [];
  let at = 0;
  for (;;) {
    if (buf.length < at + 2) break;
    let len = buf[at + 1]!;
    let head = 2;
    if (len & 0x80) {
      const k = len & 0x7f;
      if (buf.length < at + 2 + k) break;
      len = 0;
      for (let i = 0; i < k; i++) len = len * 256 + buf[at + 2 + i]!;
      head = 2 + k;
    }
    if (buf.length < at + head + len) break;
    const body = buf.subarray(at + head, at + head + len);
    // messageID INTEGER (short), then the op's tag
    const idLen = body[1]!;
    let id = 0;
    for (let i = 0; i < idLen; i++) id = id * 256 + body[2 + i]!;
    messages.push({ id, op: body[2 + idLen]! });
    at += head + len;
  }
  return { messages, rest: buf.subarray(at) };
}

async function listen(server: Server | HttpServer, ip: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, ip, resolve));
  return (server.address() as { port: number }).port;
}

function tracked(server: Server | HttpServer, sockets: Set<Socket>): () => Promise<void> {
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
}

/** Accepts TCP and never sends a byte. */
export async function ldapTarpit(ip = '127.0.0.1'): Promise<Hostile> {
  const sockets = new Set<Socket>();
  const h = { connections: 0, sent: 0 };
  const server = createServer(() => {
    h.connections++;
  });
  const close = tracked(server, sockets);
  const port = await listen(server, ip);
  return Object.assign(h, { url: `ldap://${ip}:${port}`, close });
}

/**
 * Binds anyone, then answers every search with entries for ever (never a SearchResultDone),
 * or with `huge`: one message announced as 1 GiB long, its bytes streamed.
 */
export async function ldapEndlessEntries(ip = '127.0.0.1', opts: { huge?: boolean } = {}): Promise<Hostile> {
  const sockets = new Set<Socket>();
  const h = { connections: 0, sent: 0 };
  const server = createServer((socket) => {
    h.connections++;
    let pending: Buffer = Buffer.alloc(0);
    const stream = (id: number) => {
      // a batch of entries reused for ever; only the message id matters
      const batch: Buffer = opts.huge ? Buffer.alloc(64 * 1024, 0x04) : Buffer.concat(Array.from({ length: 64 }, (_, i) => searchEntry(id, i)));
      if (opts.huge) socket.write(Buffer.from([0x30, 0x84, 0x40, 0x00, 0x00, 0x00]));
      const pump = () => {
        while (!socket.destroyed) {
          h.sent += batch.length;
          if (!socket.write(batch)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    };
    socket.on('data', (chunk: Buffer) => {
      const { messages, rest } = readMessages(Buffer.concat([pending, chunk]));
      pending = rest;
      for (const m of messages) {
        if (m.op === 0x60) socket.write(bindResponse(m.id));
        else if (m.op === 0x63) stream(m.id);
      }
    });
  });
  const close = tracked(server, sockets);
  const port = await listen(server, ip);
  return Object.assign(h, { url: `ldap://${ip}:${port}`, close });
}

/** An HTTP server whose every answer is 200 with a JSON body sent by `body`. */
async function httpHostile(ip: string, body: (res: import('node:http').ServerResponse, h: { sent: number }) => void): Promise<Hostile> {
  const sockets = new Set<Socket>();
  const h = { connections: 0, sent: 0 };
  const server = createHttpServer((_req, res) => {
    h.connections++;
    res.writeHead(200, { 'content-type': 'application/json' });
    body(res, h);
  });
  const close = tracked(server, sockets);
  const port = await listen(server, ip);
  return Object.assign(h, { url: `http://${ip}:${port}`, close });
}

/** Sends its body one byte a second, for ever. */
export function truetaskDrip(ip = '127.0.0.1'): Promise<Hostile> {
  return httpHostile(ip, (res, h) => {
    res.write('{');
    h.sent++;
    const timer = setInterval(() => {
      res.write(' ');
      h.sent++;
    }, 1000);
    res.on('close', () => clearInterval(timer));
  });
}

/** Streams a body of `bytes` (default 1 GiB) as fast as the client reads it. */
export function truetaskHuge(ip = '127.0.0.1', bytes = 1024 ** 3): Promise<Hostile> {
  const chunk: Buffer = Buffer.alloc(64 * 1024, 0x20);
  return httpHostile(ip, (res, h) => {
    let left = bytes;
    res.write('{"items":[');
    const pump = () => {
      while (left > 0 && !res.destroyed) {
        const n = Math.min(left, chunk.length);
        left -= n;
        h.sent += n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      if (left <= 0) res.end();
    };
    pump();
  });
}
