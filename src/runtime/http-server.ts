// The operator's metrics and probe endpoints: /metrics, /healthz, /readyz.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';

export interface HttpServerOptions {
  /** Address to bind, e.g. '0.0.0.0', '::' or '127.0.0.1'. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  /** Ready for work (e.g. caches synced); false answers 503 on /readyz. */
  isReady: () => boolean;
  /** Alive; false answers 500 on /healthz (the kubelet restarts the pod). */
  isHealthy: () => boolean;
  logger: Logger;
  /** Optional short reason reported by /readyz while not ready. */
  notReadyReason?: () => string | undefined;
}

export interface HttpServer {
  /** e.g. http://127.0.0.1:8080 (IPv6 hosts in brackets). */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections, closes idle keep-alive connections and resolves once closed. */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

function send(res: ServerResponse, status: number, body: string, contentType = TEXT): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { registry, isReady, isHealthy, logger } = opts;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (path === '/metrics' || path === '/healthz' || path === '/readyz') {
        res.setHeader('allow', 'GET, HEAD');
        send(res, 405, 'method not allowed\n');
      } else {
        send(res, 404, 'not found\n');
      }
      return;
    }
    switch (path) {
      case '/metrics': {
        const body = await registry.metrics();
        send(res, 200, body, registry.contentType);
        return;
      }
      case '/healthz': {
        if (isHealthy()) send(res, 200, 'ok\n');
        else send(res, 500, 'unhealthy\n');
        return;
      }
      case '/readyz': {
        if (isReady()) send(res, 200, 'ok\n');
        else send(res, 503, `not ready: ${opts.notReadyReason?.() ?? 'not ready yet'}\n`);
        return;
      }
      default:
        send(res, 404, 'not found\n');
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err, path: req.url }, 'http handler failed');
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  // Probes and scrapes are short; don't keep idle sockets around for long.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'http server error'));

  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${hostForUrl}:${address.port}`;
  logger.info({ url }, 'serving /metrics, /healthz and /readyz');

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
