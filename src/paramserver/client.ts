/**
 * A typed client for one parameter-server shard. Calls return promises; failures become typed errors:
 * a peer that cannot be reached (UNAVAILABLE, DEADLINE_EXCEEDED) → PeerUnavailable, a stale version (ABORTED)
 * → StaleVersion, anything else → RemoteCallError carrying the status code.
 */
import * as grpc from '@grpc/grpc-js';
import { PeerUnavailable, StaleVersion } from '../errors/index.js';
import { encodePrepareRequest, encodePushRequest, type Allocate } from './codec.js';
import { BufferPool } from './pool.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './server.js';
import {
  services,
  type AbortReply,
  type AbortRequest,
  type FenceReply,
  type FenceRequest,
  type CheckpointReply,
  type ClockReply,
  type ClockRequest,
  type CommitReply,
  type CommitRequest,
  type DescribeReply,
  type Empty,
  type HealthCheckResponse,
  type ImportReply,
  type InitReply,
  type InitRequest,
  type PrepareReply,
  type PrepareRequestOut,
  type PullReply,
  type PullRequest,
  type PushReply,
  type PushRequestOut,
  type StateChunk,
  type StatsReply,
} from './proto.js';

export interface ShardClientOptions {
  /** Sent as `authorization: Bearer <token>` when set. */
  readonly token?: string;
  /** The largest message sent or received (default 64 MiB, as the server's). */
  readonly maxMessageBytes?: number;
  /** Deadline of a unary call (default 120 s); ssp clock waits have none. */
  readonly deadlineMs?: number;
  /** TLS (src/rpc/tls.ts); default plaintext. */
  readonly credentials?: grpc.ChannelCredentials;
}

/** A refusal by the server other than a lost peer or a stale version; `status` is the gRPC code. */
export class RemoteCallError extends Error {
  constructor(
    readonly status: grpc.status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RemoteCallError';
  }
}

/** The gRPC status code behind an error from this client (or undefined). */
export function grpcStatusOf(err: unknown): grpc.status | undefined {
  if (err instanceof RemoteCallError) return err.status;
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'number' ? (cause.code as grpc.status) : undefined;
}

function mapError(err: grpc.ServiceError, address: string, method: string): Error {
  const what = `parameter server ${address}: ${method}: ${grpc.status[err.code] ?? err.code}: ${err.details}`;
  if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) return new PeerUnavailable(what, { cause: err });
  if (err.code === grpc.status.ABORTED) return new StaleVersion(what, { cause: err });
  return new RemoteCallError(err.code, what, { cause: err });
}

/**
 * The client's HTTP/2 receive window. Node's default (64 KiB) makes a multi-megabyte pull reply wait for a
 * WINDOW_UPDATE every 64 KiB.
 */
const FLOW_CONTROL_WINDOW = 32 * 1024 * 1024;

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;
type UnaryMethod<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<Res>) => grpc.ClientUnaryCall;

export class ShardClient {
  private readonly client: grpc.Client;
  private readonly pool = new BufferPool(2);
  private readonly health: grpc.Client;
  private readonly deadlineMs: number;

  constructor(
    readonly address: string,
    private readonly opts: ShardClientOptions = {},
  ) {
    const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const channel = { 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max, 'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW };
    const { paramServer, health } = services();
    const credentials = opts.credentials ?? grpc.credentials.createInsecure();
    this.client = new paramServer(address, credentials, channel);
    this.health = new health(address, credentials);
    this.deadlineMs = opts.deadlineMs ?? 120_000;
  }

  init(req: InitRequest): Promise<InitReply> {
    return this.call('Init', req);
  }

  describe(): Promise<DescribeReply> {
    return this.call<Empty, DescribeReply>('Describe', {});
  }

  /** With `signal`, the call is cancelled when it aborts (a prefetch the shard still holds when the store closes). */
  pull(req: Partial<PullRequest> & { table: string }, signal?: AbortSignal): Promise<PullReply> {
    return this.call('Pull', req, this.deadlineMs, signal);
  }

  push(req: PushRequestOut): Promise<PushReply> {
    return this.pooled((alloc) => this.call('Push', encodePushRequest(req, alloc)));
  }

  prepare(req: PrepareRequestOut): Promise<PrepareReply> {
    return this.pooled((alloc) => this.call('Prepare', encodePrepareRequest(req, alloc)));
  }

  commit(req: CommitRequest): Promise<CommitReply> {
    return this.call('Commit', req);
  }

  abort(req: AbortRequest): Promise<AbortReply> {
    return this.call('Abort', req);
  }

  /** Raises the shard's fence to `generation` (ShardState.fence); answers the fence after the call. */
  fence(generation: number): Promise<FenceReply> {
    return this.call<FenceRequest, FenceReply>('Fence', { generation });
  }

  /** ssp: may wait as long as the slowest worker takes, so it has no deadline. */
  clock(req: ClockRequest): Promise<ClockReply> {
    return this.call('Clock', req, null);
  }

  checkpoint(): Promise<CheckpointReply> {
    return this.call<Empty, CheckpointReply>('Checkpoint', {});
  }

  stats(): Promise<StatsReply> {
    return this.call<Empty, StatsReply>('Stats', {});
  }

  /** grpc.health.v1 Check for the whole server. */
  healthCheck(): Promise<HealthCheckResponse> {
    return this.unary(this.health, 'Check', { service: '' }, this.deadlineMs);
  }

  /** Every chunk of the shard's state (the first carries only the step). */
  exportState(maxChunkBytes = 0): Promise<StateChunk[]> {
    return new Promise((resolve, reject) => {
      const stream = (this.client as unknown as Record<string, (r: unknown, md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<StateChunk>>)
        .ExportState({ maxChunkBytes }, this.metadata(), { deadline: Date.now() + this.deadlineMs });
      const chunks: StateChunk[] = [];
      stream.on('data', (c: StateChunk) => chunks.push(c));
      stream.on('error', (err: grpc.ServiceError) => reject(mapError(err, this.address, 'ExportState')));
      stream.on('end', () => resolve(chunks));
    });
  }

  importState(chunks: Iterable<StateChunk>): Promise<ImportReply> {
    return new Promise((resolve, reject) => {
      const stream = (this.client as unknown as Record<string, (md: grpc.Metadata, o: grpc.CallOptions, cb: Callback<ImportReply>) => grpc.ClientWritableStream<StateChunk>>)
        .ImportState(this.metadata(), { deadline: Date.now() + this.deadlineMs }, (err, res) =>
          err ? reject(mapError(err, this.address, 'ImportState')) : resolve(res!),
        );
      for (const c of chunks) stream.write(c);
      stream.end();
    });
  }

  close(): void {
    this.client.close();
    this.health.close();
  }

  /**
   * Runs a call whose request is encoded into a buffer of this client's pool, and puts the buffer back once the
   * call is over (grpc-js has copied the message into its frame by then). A gradient message is megabytes; a
   * fresh one per call makes V8 collect garbage more often (it counts array buffers toward its GC limits).
   */
  private async pooled<Res>(call: (alloc: Allocate) => Promise<Res>): Promise<Res> {
    let taken: ArrayBuffer | null = null;
    try {
      return await call((bytes) => (taken = this.pool.take(bytes)));
    } finally {
      if (taken) this.pool.give(taken);
    }
  }

  private call<Req, Res>(method: string, req: Req, deadlineMs: number | null = this.deadlineMs, signal?: AbortSignal): Promise<Res> {
    return this.unary(this.client, method, req, deadlineMs, signal);
  }

  private unary<Req, Res>(client: grpc.Client, method: string, req: Req, deadlineMs: number | null, signal?: AbortSignal): Promise<Res> {
    const fn = (client as unknown as Record<string, UnaryMethod<Req, Res>>)[method].bind(client);
    const opts: grpc.CallOptions = deadlineMs === null ? {} : { deadline: Date.now() + deadlineMs };
    return new Promise((resolve, reject) => {
      const call = fn(req, this.metadata(), opts, (err, res) => {
        signal?.removeEventListener('abort', cancel);
        if (err) reject(mapError(err, this.address, method));
        else resolve(res!);
      });
      const cancel = () => call.cancel();
      if (signal?.aborted) cancel();
      else signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.opts.token) md.set('authorization', `Bearer ${this.opts.token}`);
    return md;
  }
}
