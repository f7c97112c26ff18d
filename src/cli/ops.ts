/**
 * The operations flags shared by `camrec paramserver`, `coordinator` and `worker` (docs/operations.md):
 * `--metrics-port`/`--metrics-host` (Prometheus /metrics, /healthz, /readyz on their own HTTP port; off by default)
 * and `--tls-cert`/`--tls-key`/`--tls-ca` (gRPC TLS, mutual with a CA on a server).
 */
import type * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError } from '../errors/index.js';
import { grpcServerMetrics, OpsServer, processMetrics, Readiness, Registry } from '../metrics/index.js';
import { channelCredentials, isMutual, readTls, serverCredentials, type TlsFlags, type TlsMaterial } from '../rpc/index.js';
import { numberFlag } from './flags.js';
import { packageVersion } from './provenance.js';

export interface OpsFlags extends TlsFlags {
  metricsPort?: number;
  metricsHost?: string;
}

const OPS_KEYS = ['metricsPort', 'metricsHost', 'tlsCert', 'tlsKey', 'tlsCa'] as const;

/** Adds the operations flags to a command. */
export function opsFlags(cmd: Command): Command {
  return cmd
    .option('--metrics-port <n>', 'serve /metrics, /healthz and /readyz over HTTP on this port (0: any free port; default off)', numberFlag('--metrics-port'))
    .option('--metrics-host <ip>', 'address of the metrics port (default 127.0.0.1; 0.0.0.0 in a pod)')
    .option('--tls-cert <file>', 'PEM certificate: served by a server, presented by a client (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-ca <file>', 'PEM CA bundle: clients verify servers with it; a server given it requires client certificates (mutual TLS)');
}

/** Takes the operations flags out of a command's options (the coordinator passes the rest to the train config). */
export function splitOpsFlags(opts: Record<string, unknown>): { ops: OpsFlags; rest: Record<string, unknown> } {
  const ops: Record<string, unknown> = {};
  const rest = { ...opts };
  for (const k of OPS_KEYS) {
    if (rest[k] !== undefined) ops[k] = rest[k];
    delete rest[k];
  }
  return { ops: ops as OpsFlags, rest };
}

/** One process's metrics registry, readiness, TLS material and (when asked for) its metrics port. */
export class Ops {
  readonly registry = new Registry();
  readonly readiness: Readiness;
  readonly tls: TlsMaterial | null;
  private server: OpsServer | null = null;
  private grpcInterceptors: grpc.ServerInterceptor[] | null = null;

  /** Checks the flags and reads the TLS files (ConfigError naming the flag); listens only in `listen`. */
  constructor(
    private readonly flags: OpsFlags,
    component: string,
    readyWhen: readonly string[],
  ) {
    const p = flags.metricsPort;
    if (p !== undefined && !(Number.isInteger(p) && p >= 0 && p <= 65535)) throw new ConfigError(`flag --metrics-port: ${p} is not a port in [0, 65535]`);
    const h = flags.metricsHost;
    if (h !== undefined && h !== 'localhost' && isIP(h) === 0) throw new ConfigError(`flag --metrics-host: '${h}' is not an IP address`);
    if (h !== undefined && p === undefined) throw new ConfigError('flag --metrics-host needs --metrics-port');
    this.tls = readTls(flags);
    this.readiness = new Readiness(readyWhen);
    processMetrics(this.registry, component, packageVersion());
  }

  /** True for a server that requires client certificates: an authenticated listener, like a token. */
  get mutualTls(): boolean {
    return isMutual(this.tls);
  }

  serverCredentials(): grpc.ServerCredentials {
    return serverCredentials(this.tls);
  }

  channelCredentials(): grpc.ChannelCredentials {
    return channelCredentials(this.tls);
  }

  /** The request-metrics interceptor for this process's gRPC server (one per registry). */
  interceptors(): grpc.ServerInterceptor[] {
    this.grpcInterceptors ??= [grpcServerMetrics(this.registry)];
    return this.grpcInterceptors;
  }

  /** Starts the metrics port when --metrics-port was given; its port, or null. */
  async listen(log: Logger): Promise<number | null> {
    if (this.flags.metricsPort === undefined) return null;
    this.server = await OpsServer.start({ host: this.flags.metricsHost, port: this.flags.metricsPort, registry: this.registry, readiness: this.readiness, log });
    return this.server.port;
  }

  async close(): Promise<void> {
    this.readiness.stopping();
    await this.server?.close();
    this.server = null;
  }
}
