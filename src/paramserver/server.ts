/**
 * The parameter server's gRPC service (proto/paramserver.proto): it translates messages to and from the
 * shard's state (shard.ts) and maps refusals to status codes, nothing more (docs/paramserver.md):
 * InvalidRequest → INVALID_ARGUMENT, NotReady → FAILED_PRECONDITION, StaleVersion → ABORTED, a missing or
 * wrong token → UNAUTHENTICATED, shutting down → UNAVAILABLE. grpc-js itself answers RESOURCE_EXHAUSTED for an
 * oversized message and INTERNAL for undecodable bytes, before a handler runs.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { checkToken, type StatusLike, unaryHandler, widenServerWindow } from '../rpc/index.js';
import { CheckpointError, StaleVersion } from '../errors/index.js';
import { checkpointPath, readShardCheckpoint, writeShardCheckpoint } from './checkpoint.js';
import { lendFrom, pullReplyFrame, type Allocate } from './codec.js';
import { consistencyFromMsg, consistencyToMsg, encodingFromMsg, optimizerFromMsg, placementToMsg, rowBlockFromMsg, tableDefFromMsg } from './convert.js';
import { Fenced, InvalidRequest, NotReady, ShuttingDown } from './errors.js';
import { HealthService } from './health.js';
import { BufferPool } from './pool.js';
import {
  PARAM_SERVER_SERVICE,
  PROTOCOL_VERSION,
  services,
  type AbortReply,
  type AbortRequest,
  type CheckpointReply,
  type ClockReply,
  type ClockRequest,
  type CommitReply,
  type CommitRequest,
  type DescribeReply,
  type FenceReply,
  type FenceRequest,
  type ExportRequest,
  type ImportReply,
  type InitReply,
  type InitRequest,
  type PrepareReply,
  type PrepareRequest,
  type PullRequest,
  type PushReply,
  type PushRequest,
  type StateChunk,
  type StatsReply,
} from './proto.js';
import { configFingerprint, ShardState, type ShardConfig } from './shard.js';
import { bytesOf, floatsOf, uintsOf } from './wire.js';

export interface ParamServerOptions {
  readonly shard: number;
  readonly shards: number;
  /** Default 127.0.0.1: loopback only. */
  readonly host?: string;
  /** 0 (default): any free port; `port` on the started server says which. */
  readonly port?: number;
  /** Where the shard's checkpoint lives; restored from on start when present. */
  readonly checkpointDir?: string;
  /** Also write a checkpoint after every this many applied steps (0: only on request and on shutdown). */
  readonly checkpointEvery?: number;
  /** The largest message received or sent, in bytes (default 64 MiB). */
  readonly maxMessageBytes?: number;
  /** When set, every call but health checks must carry `authorization: Bearer <token>`. */
  readonly token?: string;
  /** TLS (src/rpc/tls.ts); default plaintext. */
  readonly credentials?: grpc.ServerCredentials;
  /** Run around every call (request metrics: src/metrics/grpc.ts). */
  readonly interceptors?: grpc.ServerInterceptor[];
  readonly log: Logger;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const DEFAULT_EXPORT_CHUNK_BYTES = 4 * 1024 * 1024;
const SHUTDOWN_GRACE_MS = 10_000;
/** The HTTP/2 receive window per stream and per connection (Node's default, 64 KiB, makes a push wait for a WINDOW_UPDATE every 64 KiB). */
const RECEIVE_WINDOW_BYTES = 32 * 1024 * 1024;
/** The longest a prefetching pull is held (PullRequest.hold_ms). */
const MAX_HOLD_MS = 10_000;
/** Pull reply buffers kept for reuse: one per table and puller of a step is enough for a few workers. */
const SPARE_REPLY_BUFFERS = 8;

type Unary<Req, Res> = (req: Req) => Res | Promise<Res>;

export class ParamServer {
  private state: ShardState | null = null;
  private stopping = false;
  private readonly health = new HealthService([PARAM_SERVER_SERVICE]);
  private readonly log: Logger;
  private readonly token: Buffer | null;
  /** Pull replies are written into these buffers, each given back once grpc-js has copied the reply. */
  private readonly replyBuffers: Allocate = lendFrom(new BufferPool(SPARE_REPLY_BUFFERS));

  private constructor(
    private readonly opts: ParamServerOptions,
    private readonly server: grpc.Server,
    readonly port: number,
  ) {
    this.log = opts.log.child({ component: 'paramserver', shard: opts.shard });
    this.token = opts.token ? Buffer.from(`Bearer ${opts.token}`) : null;
  }

  /** Binds, restores the latest checkpoint when there is one, and starts serving. */
  static async start(opts: ParamServerOptions): Promise<ParamServer> {
    const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const server = new grpc.Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max, interceptors: opts.interceptors ?? [] });
    const window = widenServerWindow(server, RECEIVE_WINDOW_BYTES);
    const host = opts.host ?? '127.0.0.1';
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${opts.port ?? 0}`, opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    if (!window.sessions() || !window.settings) opts.log.warn('could not widen the HTTP/2 receive window (grpc-js internals changed): pushes will be slower');
    const ps = new ParamServer(opts, server, port);
    ps.restore();
    const { paramServer, health } = services();
    server.addService(paramServer.service, ps.handlers());
    server.addService(health.service, ps.health.handlers());
    ps.health.setAll('SERVING');
    ps.log.info({ host, port, restoredStep: ps.state?.step ?? null }, 'serving');
    return ps;
  }

  /** The shard's state, null until Init (or a restored checkpoint). */
  get shard(): ShardState | null {
    return this.state;
  }

  /** Writes the shard's checkpoint now (atomically). */
  checkpoint(): { path: string; step: number; bytes: number } {
    const dir = this.opts.checkpointDir;
    if (!dir) throw new NotReady('this shard has no --checkpoint-dir');
    const state = this.need();
    mkdirSync(dir, { recursive: true });
    const path = checkpointPath(dir, this.opts.shard, this.opts.shards);
    const bytes = writeShardCheckpoint(path, state.snapshot());
    this.log.info({ path, step: state.step, bytes }, 'checkpoint written');
    return { path, step: state.step, bytes };
  }

  /**
   * Graceful shutdown (SIGTERM): stop taking calls, let those in flight finish (waiting ssp clocks are failed
   * with UNAVAILABLE), then flush a checkpoint when there is a checkpoint folder.
   */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.health.setAll('NOT_SERVING');
    this.health.close();
    this.state?.cancelWaiters(new ShuttingDown('the parameter server is shutting down'));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.opts.checkpointDir && this.state) this.checkpoint();
    this.log.info('stopped');
  }

  /** Pulls held now for a table version (prefetches, docs/paramserver.md "Prefetch"). */
  heldPulls(): number {
    return this.state?.heldPulls ?? 0;
  }

  /** Stops at once, without a checkpoint (tests; a crash). */
  forceClose(): void {
    this.stopping = true;
    this.health.close();
    this.state?.cancelWaiters(new ShuttingDown('the parameter server is shutting down'));
    this.server.forceShutdown();
  }

  private restore(): void {
    if (!this.opts.checkpointDir) return;
    const snap = readShardCheckpoint(checkpointPath(this.opts.checkpointDir, this.opts.shard, this.opts.shards));
    if (!snap) return;
    if (snap.config.shard !== this.opts.shard || snap.config.shards !== this.opts.shards) {
      throw new CheckpointError(`checkpoint is for shard ${snap.config.shard} of ${snap.config.shards}, not ${this.opts.shard} of ${this.opts.shards}`);
    }
    this.state = ShardState.restore(snap);
    this.log.info({ step: snap.step }, 'restored from checkpoint');
  }

  private need(): ShardState {
    if (!this.state) throw new NotReady(`shard ${this.opts.shard} is not initialised: call Init first`);
    return this.state;
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      Init: this.unary((r: InitRequest) => this.init(r)),
      Describe: this.unary(() => this.describe()),
      Pull: this.unary((r: PullRequest) => this.pull(r)),
      Push: this.unary((r: PushRequest) => this.push(r)),
      Prepare: this.unary((r: PrepareRequest) => this.prepare(r)),
      Commit: this.unary((r: CommitRequest) => this.commit(r)),
      Abort: this.unary((r: AbortRequest): AbortReply => ({ discardedTasks: this.need().abort(r.step, r.generation).discarded })),
      Fence: this.unary((r: FenceRequest): FenceReply => ({ generation: this.need().fence(r.generation) })),
      Clock: this.unary((r: ClockRequest) => this.clock(r)),
      Checkpoint: this.unary((): CheckpointReply => this.checkpoint()),
      Stats: this.unary(() => this.stats()),
      ExportState: (call: grpc.ServerWritableStream<ExportRequest, StateChunk>) => this.exportState(call),
      ImportState: (call: grpc.ServerReadableStream<StateChunk, ImportReply>, cb: grpc.sendUnaryData<ImportReply>) => this.importState(call, cb),
    };
  }

  /** A unary handler: checks the token, runs `fn`, answers its result or its error's status. */
  private unary<Req, Res>(fn: Unary<Req, Res>): grpc.handleUnaryCall<Req, Res> {
    return unaryHandler<Req, Res>((md) => this.deny(md), (err) => this.toStatus(err), fn);
  }

  private deny(md: grpc.Metadata): StatusLike | null {
    if (this.stopping) return { code: grpc.status.UNAVAILABLE, details: 'the parameter server is shutting down' };
    return checkToken(md, this.token);
  }

  private toStatus(err: unknown): Partial<grpc.StatusObject> {
    const e = err as Error;
    if (err instanceof InvalidRequest) return { code: grpc.status.INVALID_ARGUMENT, details: e.message };
    if (err instanceof StaleVersion) return { code: grpc.status.ABORTED, details: e.message };
    if (err instanceof NotReady || err instanceof Fenced || err instanceof CheckpointError) return { code: grpc.status.FAILED_PRECONDITION, details: e.message };
    if (err instanceof ShuttingDown) return { code: grpc.status.UNAVAILABLE, details: e.message };
    this.log.error({ err }, 'internal error');
    return { code: grpc.status.INTERNAL, details: e?.message ?? String(err) };
  }

  private init(r: InitRequest): InitReply {
    if (r.shards !== this.opts.shards) throw new InvalidRequest(`this is shard ${this.opts.shard} of ${this.opts.shards}, not of ${r.shards}`);
    const config: ShardConfig = {
      shard: this.opts.shard,
      shards: r.shards,
      seed: r.seed,
      optimizer: optimizerFromMsg(r.optimizer),
      consistency: consistencyFromMsg(r.consistency),
      tables: r.tables.map(tableDefFromMsg),
    };
    if (this.state) {
      if (configFingerprint(config) === this.state.fingerprint) return { already: true, step: this.state.step };
      throw new NotReady(`shard ${this.opts.shard} already holds another configuration (start it with a fresh checkpoint folder to change it)`);
    }
    this.state = ShardState.create(config);
    this.log.info({ tables: config.tables.length, consistency: config.consistency.mode, optimizer: config.optimizer.kind }, 'initialised');
    return { already: false, step: 0 };
  }

  private describe(): DescribeReply {
    const s = this.state;
    return {
      shard: this.opts.shard,
      shards: this.opts.shards,
      initialised: s !== null,
      step: s?.step ?? 0,
      consistency: s ? consistencyToMsg(s.config.consistency) : null,
      tables: (s?.describe() ?? []).map((t) => ({ ...t, placement: placementToMsg(t.placement), ownerShard: t.owner })),
      protocolVersion: PROTOCOL_VERSION,
      generation: s?.generation ?? 0,
    };
  }

  /**
   * The reply is encoded here (codec.ts), the rows gathered straight into the message in the encoding asked for,
   * in a reused buffer.
   */
  private pull(r: PullRequest): Buffer | Promise<Buffer> {
    const held = r.holdMs ? this.need().untilVersion(r.table, Number(r.minVersion ?? 0), Math.min(r.holdMs, MAX_HOLD_MS)) : null;
    return held ? held.then(() => this.pullNow(r)) : this.pullNow(r);
  }

  private pullNow(r: PullRequest): Buffer {
    const ids = r.allRows ? null : uintsOf(r.ids, `table ${r.table} ids`);
    const encoding = encodingFromMsg(r.encoding, `pull of table ${r.table}`);
    const rows = this.need().read(r.table, ids, r.changedOnly ? r.sinceVersion : null);
    const frame = pullReplyFrame(r.table, rows.ids.length, rows.dim, rows.version, rows.incarnation, encoding, this.replyBuffers);
    frame.ids.set(rows.ids);
    rows.copyTo(frame.values, frame.rowVersions);
    return frame.message;
  }

  private push(r: PushRequest): PushReply {
    const s = this.need();
    const { duplicate } = s.push(r.task, r.attempt, r.blocks.map(rowBlockFromMsg), r.generation);
    this.afterStep(s);
    return { duplicate, step: s.step, versions: s.versions() };
  }

  private prepare(r: PrepareRequest): PrepareReply {
    const s = this.need();
    const { duplicate } = s.prepare(r.step, r.task, r.attempt, r.blocks.map(rowBlockFromMsg), r.generation);
    return { duplicate, stagedTasks: s.stagedTasks };
  }

  private commit(r: CommitRequest): CommitReply {
    const s = this.need();
    const { tasks } = s.commit(r.step, r.tasks, r.generation);
    this.afterStep(s);
    return { step: s.step, tasks, versions: s.versions() };
  }

  private async clock(r: ClockRequest): Promise<ClockReply> {
    return this.need().clock(r.worker, r.clock);
  }

  private stats(): StatsReply {
    const s = this.need();
    return { shard: this.opts.shard, step: s.step, ...s.counters, stagedTasks: s.stagedTasks, clockWaiters: s.clockWaiters, versions: s.versions() };
  }

  private afterStep(s: ShardState): void {
    const every = this.opts.checkpointEvery ?? 0;
    if (every > 0 && this.opts.checkpointDir && s.step % every === 0) this.checkpoint();
  }

  private exportState(call: grpc.ServerWritableStream<ExportRequest, StateChunk>): void {
    const denied = this.deny(call.metadata);
    if (denied) return void call.destroy(Object.assign(new Error(denied.details), denied));
    let s: ShardState;
    try {
      s = this.need();
    } catch (err) {
      return void call.destroy(Object.assign(new Error((err as Error).message), this.toStatus(err)));
    }
    const chunkBytes = Math.min(call.request.maxChunkBytes || DEFAULT_EXPORT_CHUNK_BYTES, this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES) - 1024;
    const dims = new Map(s.describe().map((t) => [t.name, t.dim]));
    const step = s.step;
    call.write({ step, table: '', slot: 0, firstRow: 0, rows: 0, values: Buffer.alloc(0) });
    for (const c of s.exportChunks(Number.MAX_SAFE_INTEGER)) {
      // Split each array by the chunk size of its own row width.
      const dim = dims.get(c.table)!;
      const rowsPer = Math.max(1, Math.floor(chunkBytes / (4 * dim)));
      for (let r = 0; r < c.rows; r += rowsPer) {
        const rows = Math.min(rowsPer, c.rows - r);
        call.write({ step, table: c.table, slot: c.slot, firstRow: c.firstRow + r, rows, values: bytesOf(c.values.subarray(r * dim, (r + rows) * dim)) });
      }
    }
    call.end();
  }

  private importState(call: grpc.ServerReadableStream<StateChunk, ImportReply>, callback: grpc.sendUnaryData<ImportReply>): void {
    const denied = this.deny(call.metadata);
    if (denied) return callback(denied);
    const chunks: { table: string; slot: number; firstRow: number; values: Float32Array }[] = [];
    let step: number | null = null;
    let failed: unknown = null;
    call.on('data', (c: StateChunk) => {
      try {
        if (step !== null && c.step !== step) throw new InvalidRequest(`import: chunks carry steps ${step} and ${c.step}`);
        step = c.step;
        if (c.table === '') return;
        chunks.push({ table: c.table, slot: c.slot, firstRow: c.firstRow, values: floatsOf(c.values, `table ${c.table} slot ${c.slot}`) });
      } catch (err) {
        failed ??= err;
      }
    });
    call.on('end', () => {
      try {
        if (failed) throw failed;
        const s = this.need();
        s.importState(step ?? s.step, chunks);
        this.log.info({ step: s.step }, 'state imported');
        callback(null, { step: s.step });
      } catch (err) {
        callback(this.toStatus(err));
      }
    });
  }
}
