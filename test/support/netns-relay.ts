// A server that lives inside a network namespace, reached from the host's loopback:
// a socat inside the namespace listens on a Unix socket (the filesystem is shared)
// and connects to the server's address there; this process listens on 127.0.0.N
// and pipes each connection to that socket. The same shape as the API server's
// relay at 127.0.0.1:16443 (scripts/cluster/up.sh). Traffic stays on loopback
// and inside the namespace.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export interface NetnsRelayOut {
  /** Where the host connects. */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

let seq = 0;

/**
 * A server that pipes each connection it accepts to a new one made by `dial`
 * (both ends closed together), and counts them. Not listening yet.
 */
export function pipeServer(dial: () => Socket): { server: Server; accepted(): number; destroyAll(): void } {
  const sockets = new Set<Socket>();
  let count = 0;
  const server = createServer((inbound) => {
    count++;
    const outbound = dial();
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  return {
    server,
    accepted: () => count,
    destroyAll: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

export async function relayOutOfNetns(netns: string, target: { host: string; port: number }, listen: { host: string; port: number }): Promise<NetnsRelayOut> {
  const dir = join(tmpdir(), 'truetask-adsync-netns-relays');
  mkdirSync(dir, { recursive: true });
  const sock = join(dir, `out-${process.pid}-${++seq}.sock`);
  rmSync(sock, { force: true });
  const child = spawn('nsenter', [`--net=/run/netns/${netns}`, 'socat', `UNIX-LISTEN:${sock},fork,mode=600`, `TCP:${target.host}:${target.port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  const deadline = Date.now() + 10_000;
  while (!existsSync(sock) && child.exitCode === null && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 20));
  if (!existsSync(sock)) {
    child.kill('SIGKILL');
    await exited;
    process.off('exit', killChild);
    throw new Error(`relay out of netns ${netns} (${target.host}:${target.port}) did not start: ${stderr.trim() || 'no socket within 10 s'}`);
  }
  const pipe = pipeServer(() => connect(sock));
  const server = pipe.server;
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => ok());
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    process.off('exit', killChild);
    rmSync(sock, { force: true });
    throw err;
  }
  return {
    host: listen.host,
    port: listen.port,
    async close() {
      process.off('exit', killChild);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      pipe.destroyAll();
      await new Promise<void>((ok) => server.close(() => ok()));
      rmSync(sock, { force: true });
    },
  };
}
