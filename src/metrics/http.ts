/**
 * The operations port (`--metrics-port`): plain HTTP, apart from the gRPC port, so that Prometheus and the
 * kubelet need no token and no client certificate (DESIGN.md §5 "Security").
 *
 * - `GET /metrics`: the registry in the Prometheus text format.
 * - `GET /healthz` (liveness): 200 while the process answers; the kubelet restarts a container that stops answering.
 * - `GET /readyz` (readiness): 200 once every readiness condition holds and the process is not stopping, else 503
 *   with the conditions still missing, one per line.
 *
 * HEAD answers as GET without a body; other methods get 405, other paths 404.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError } from '../errors/index.js';
import type { Registry } from './registry.js';

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Named conditions that must all hold before a process takes traffic (a restored checkpoint, connected shards …). */
export class Readiness {
  private readonly pending: Set<string>;
  private stoppingSince: number | null = null;

  constructor(conditions: readonly string[]) {
    this.pending = new Set(conditions);
  }

  /** The condition holds from now on. */
  met(condition: string): void {
    this.pending.delete(condition);
  }

  /** The process is shutting down: not ready again. */
  stopping(): void {
    this.stoppingSince ??= Date.now();
  }

  /** What is still missing; empty when ready. */
  missing(): string[] {
    return this.stoppingSince !== null ? ['shutting down'] : [...this.pending];
  }

  get ready(): boolean {
    return this.missing().length === 0;
  }
}

export interface OpsServerOptions {
  /** Default 127.0.0.1; 0.0.0.0 in a pod, so that the kubelet and Prometheus reach it. */
  readonly host?: string;
  /** 0: any free port (`port` says which). */
  readonly port: number;
  readonly registry: Registry;
  readonly readiness: Readiness;
  readonly log: Logger;
}

export class OpsServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(o: OpsServerOptions): Promise<OpsServer> {
    const host = o.host ?? '127.0.0.1';
    const server = createServer((req, res) => answer(req, res, o));
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new ConfigError(`metrics port ${host}:${o.port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`, { cause: err })),
      );
      server.listen(o.port, host, () => resolve((server.address() as AddressInfo).port));
    });
    // Probes and scrapes are short; a stuck client must not hold the process at exit.
    server.keepAliveTimeout = 5000;
    o.log.child({ component: 'metrics' }).info({ host, port }, 'metrics serving');
    return new OpsServer(server, port);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function answer(req: IncomingMessage, res: ServerResponse, o: OpsServerOptions): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(req, res, 405, 'only GET and HEAD\n', { allow: 'GET, HEAD' });
  switch (path) {
    case '/metrics': {
      let body: string;
      try {
        body = o.registry.expose();
      } catch (err) {
        o.log.error({ err, component: 'metrics' }, 'metrics collection failed');
        return send(req, res, 500, `metrics collection failed: ${(err as Error).message}\n`);
      }
      return send(req, res, 200, body, { 'content-type': EXPOSITION_CONTENT_TYPE });
    }
    case '/healthz':
      return send(req, res, 200, 'ok\n');
    case '/readyz': {
      const missing = o.readiness.missing();
      return missing.length === 0 ? send(req, res, 200, 'ready\n') : send(req, res, 503, `not ready:\n${missing.map((m) => `- ${m}\n`).join('')}`);
    }
    default:
      return send(req, res, 404, 'not found: try /metrics, /healthz or /readyz\n');
  }
}

function send(req: IncomingMessage, res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(req.method === 'HEAD' ? undefined : body);
}
