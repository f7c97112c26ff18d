/**
 * `camrec paramserver --shard i --shards S [--port P] [--checkpoint-dir d]`: serves one parameter-server shard
 * (docs/paramserver.md). The shard needs no dataset: a client gives it its tables, optimizer and consistency
 * mode in an Init call, or it restores them from its latest checkpoint. It prints one JSON line on stdout
 * once it listens ({"shard", "shards", "host", "port", "restoredStep"}) and stops gracefully on SIGTERM/SIGINT,
 * flushing a checkpoint.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError } from '../errors/index.js';
import { paramServerMetrics } from '../metrics/index.js';
import { ParamServer } from '../paramserver/index.js';
import { makeLogger } from './log.js';
import { Ops, type OpsFlags } from './ops.js';

export interface ParamServerFlags extends OpsFlags {
  shard: number;
  shards: number;
  host?: string;
  port?: number;
  listen?: string;
  insecure?: boolean;
  tokenFile?: string;
  checkpointDir?: string;
  checkpointEvery?: number;
  maxMessageMb?: number;
  logLevel?: string;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Where to listen: --listen host:port, else --host (default 127.0.0.1) and --port (default `defaultPort`). */
export function listenAddress(f: Pick<ParamServerFlags, 'host' | 'port' | 'listen'>, defaultPort = 50051): { host: string; port: number } {
  let host = f.host ?? '127.0.0.1';
  let port = f.port ?? defaultPort;
  if (f.listen) {
    const at = f.listen.lastIndexOf(':');
    if (at <= 0) throw new ConfigError(`flag --listen: '${f.listen}' is not host:port`);
    host = f.listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
    port = Number(f.listen.slice(at + 1));
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`port ${port} is not in [0, 65535]`);
  if (host !== 'localhost' && isIP(host) === 0) throw new ConfigError(`host '${host}' is not an IP address`);
  return { host, port };
}

/** Refuses an open (non-loopback) listener without a token or mutual TLS unless --insecure (DESIGN.md §5). */
export function checkOpenListener(host: string, token: string | undefined, insecure: boolean | undefined, tokenEnv: string, mutualTls = false): void {
  if (!LOOPBACK.has(host) && !token && !mutualTls && !insecure) {
    throw new ConfigError(`refusing to listen on ${host} without a token: give --token-file (or ${tokenEnv}), mutual TLS (--tls-cert, --tls-key, --tls-ca) or --insecure`);
  }
}

/** Refuses a bad shard index and an open (non-loopback) listener without a token unless --insecure (DESIGN.md §5). */
export function checkFlags(f: ParamServerFlags, host: string, token: string | undefined, mutualTls = false): void {
  if (!Number.isInteger(f.shards) || f.shards < 1) throw new ConfigError(`flag --shards: ${f.shards} is not a positive integer`);
  if (!Number.isInteger(f.shard) || f.shard < 0 || f.shard >= f.shards) throw new ConfigError(`flag --shard: ${f.shard} is not in [0, ${f.shards})`);
  checkOpenListener(host, token, f.insecure, 'CAMREC_PS_TOKEN', mutualTls);
  if (f.maxMessageMb !== undefined && !(f.maxMessageMb > 0)) throw new ConfigError(`flag --max-message-mb: ${f.maxMessageMb} is not positive`);
}

export async function paramserverCommand(f: ParamServerFlags): Promise<number> {
  const { host, port } = listenAddress(f);
  const token = f.tokenFile ? readFileSync(f.tokenFile, 'utf8').trim() : process.env.CAMREC_PS_TOKEN || undefined;
  const ops = new Ops(f, 'paramserver', ['checkpoint restored and gRPC listening']);
  checkFlags(f, host, token, ops.mutualTls);
  const log = makeLogger(f.logLevel ?? 'info');
  await ops.listen(log);
  try {
    await serve(f, { host, port, token }, ops, log);
  } finally {
    await ops.close();
  }
  return 0;
}

/** Serves the shard until SIGTERM/SIGINT, then shuts it down gracefully (a checkpoint is flushed). */
async function serve(f: ParamServerFlags, at: { host: string; port: number; token: string | undefined }, ops: Ops, log: Logger): Promise<void> {
  const { host, port, token } = at;
  const server = await ParamServer.start({
    shard: f.shard,
    shards: f.shards,
    host,
    port,
    token,
    checkpointDir: f.checkpointDir,
    checkpointEvery: f.checkpointEvery,
    maxMessageBytes: Math.round((f.maxMessageMb ?? 64) * 1024 * 1024),
    credentials: ops.serverCredentials(),
    interceptors: ops.interceptors(),
    log,
  });
  paramServerMetrics(ops.registry, f.shard, server);
  ops.readiness.met('checkpoint restored and gRPC listening');
  process.stdout.write(`${JSON.stringify({ shard: f.shard, shards: f.shards, host, port: server.port, restoredStep: server.shard?.step ?? null })}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      ops.readiness.stopping();
      server.shutdown().then(resolve, (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
