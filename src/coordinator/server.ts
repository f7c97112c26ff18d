/**
 * The coordinator's gRPC service (proto/coordinator.proto): each handler translates a message into a call on the
 * job (job.ts, which feeds the pure policy) and its outcome back into a message, nothing more. Status codes: a
 * malformed request → INVALID_ARGUMENT, a newer protocol or a Claim to a coordinator that leases its tasks itself →
 * FAILED_PRECONDITION, a missing or wrong token → UNAUTHENTICATED, shutting down → UNAVAILABLE.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { checkToken, type StatusLike, unaryHandler } from '../rpc/index.js';
import { bytesOf, HealthService, healthDefinition } from '../paramserver/index.js';
import type { Batch } from '../models/types.js';
import { METRICS, metricKey, type MetricTotals } from '../eval/index.js';
import type { CoordinatorJob, LeaseOutcome } from './job.js';
import {
  COORDINATOR_PROTOCOL_VERSION,
  COORDINATOR_SERVICE,
  coordinatorService,
  type ClaimRequest,
  type GetJobRequest,
  type HeartbeatReply,
  type HeartbeatRequest,
  type JobSpec,
  type JoinReply,
  type JoinRequest,
  type LeaseReply,
  type LeaseRequest,
  type LeaveReply,
  type LeaveRequest,
  type ReportEvalRequest,
  type ReportReply,
  type ReportRequest,
  type ShardVersionMsg,
  type TriplesMsg,
} from './proto.js';
import type { ShardVersion } from './staleness.js';

export interface CoordinatorServerOptions {
  readonly job: CoordinatorJob;
  /** Default 127.0.0.1: loopback only. */
  readonly host?: string;
  /** 0 (default): any free port; `port` on the started server says which. */
  readonly port?: number;
  /** When set, every call must carry `authorization: Bearer <token>`. */
  readonly token?: string;
  /** The longest a Lease call waits for a task (default 1 s). */
  readonly maxLeaseWaitMs?: number;
  /** TLS (src/rpc/tls.ts); default plaintext. */
  readonly credentials?: grpc.ServerCredentials;
  /** Run around every call (request metrics: src/metrics/grpc.ts). */
  readonly interceptors?: grpc.ServerInterceptor[];
  readonly log: Logger;
}

/** A request the coordinator cannot act on. */
export class BadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class CoordinatorServer {
  private stopping = false;
  private readonly log: Logger;
  private readonly token: Buffer | null;
  private readonly health = new HealthService([COORDINATOR_SERVICE]);

  private constructor(
    private readonly opts: CoordinatorServerOptions,
    private readonly server: grpc.Server,
    readonly port: number,
  ) {
    this.log = opts.log.child({ component: 'coordinator-server' });
    this.token = opts.token ? Buffer.from(`Bearer ${opts.token}`) : null;
  }

  static async start(opts: CoordinatorServerOptions): Promise<CoordinatorServer> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES, interceptors: opts.interceptors ?? [] });
    const host = opts.host ?? '127.0.0.1';
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${opts.port ?? 0}`, opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const s = new CoordinatorServer(opts, server, port);
    server.addService(coordinatorService().service, s.handlers());
    server.addService(healthDefinition(), s.health.handlers());
    s.health.setAll('SERVING');
    s.log.info({ host, port }, 'serving');
    return s;
  }

  /** Stops taking calls and waits (up to `graceMs`) for those in flight. */
  async shutdown(graceMs = 2000): Promise<void> {
    this.stopping = true;
    this.health.setAll('NOT_SERVING');
    this.health.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private handlers(): grpc.UntypedServiceImplementation {
    const job = this.opts.job;
    return {
      GetJob: this.unary((r: GetJobRequest): JobSpec => {
        checkVersion(r.protocolVersion);
        const spec = job.spec();
        return {
          ...spec,
          protocolVersion: COORDINATOR_PROTOCOL_VERSION,
          hyperJson: JSON.stringify(spec.hyper),
          optimizerJson: JSON.stringify(spec.optimizer),
        };
      }),
      Join: this.unary(async (r: JoinRequest): Promise<JoinReply> => {
        checkVersion(r.protocolVersion);
        return job.join(workerId(r.worker), r.evaluates);
      }),
      Heartbeat: this.unary((r: HeartbeatRequest): HeartbeatReply => job.heartbeat(workerId(r.worker))),
      Lease: this.unary(async (r: LeaseRequest): Promise<LeaseReply> => {
        const wait = Math.min(r.waitMs, this.opts.maxLeaseWaitMs ?? 1000);
        return leaseReply(await job.lease(workerId(r.worker), wait));
      }),
      Claim: this.unary(async (r: ClaimRequest): Promise<LeaseReply> => {
        const worker = workerId(r.worker);
        if (!job.queueLeasing) throw new FailedPrecondition('this coordinator leases its tasks (--task-queue policy): ask with Lease');
        if (!(r.attempt >= 1)) throw new BadRequest(`claim: attempt ${r.attempt} is not a delivery count (1, 2, ...)`);
        return leaseReply(await job.claim(worker, { epoch: r.epoch, step: r.step, index: r.index }, r.attempt));
      }),
      Report: this.unary((r: ReportRequest): Promise<ReportReply> =>
        job.report({
          worker: workerId(r.worker),
          task: { epoch: r.epoch, step: r.step, index: r.index },
          attempt: r.attempt,
          loss: r.loss,
          parts: r.parts,
          error: r.error || undefined,
          timing: r,
          reads: (r.reads ?? []).map(shardVersion),
          applied: (r.applied ?? []).map(shardVersion),
        }),
      ),
      ReportEval: this.unary((r: ReportEvalRequest): Promise<ReportReply> => {
        const worker = workerId(r.worker);
        const range = { epoch: r.epoch, split: evalSplit(r.split), index: r.index };
        if (r.error) return job.reportEval({ worker, range, attempt: r.attempt, error: r.error });
        return job.reportEval({ worker, range, attempt: r.attempt, totals: evalTotals(r, job.spec().ks) });
      }),
      Leave: this.unary(async (r: LeaveRequest): Promise<LeaveReply> => {
        await job.leave(workerId(r.worker), r.reason);
        return {};
      }),
    };
  }

  /** A unary handler: checks the token, runs `fn`, answers its result or its error's status. */
  private unary<Req, Res>(fn: (req: Req) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return unaryHandler<Req, Res>((md) => this.deny(md), (err) => this.toStatus(err), fn);
  }

  private deny(md: grpc.Metadata): StatusLike | null {
    if (this.stopping) return { code: grpc.status.UNAVAILABLE, details: 'the coordinator is shutting down' };
    return checkToken(md, this.token);
  }

  private toStatus(err: unknown): Partial<grpc.StatusObject> {
    const e = err as Error;
    if (err instanceof BadRequest) return { code: grpc.status.INVALID_ARGUMENT, details: e.message };
    if (err instanceof FailedPrecondition) return { code: grpc.status.FAILED_PRECONDITION, details: e.message };
    this.log.error({ err }, 'internal error');
    return { code: grpc.status.INTERNAL, details: e?.message ?? String(err) };
  }
}

/** A request this coordinator cannot serve as it runs: another protocol version, or another way of leasing. */
class FailedPrecondition extends Error {}

function checkVersion(v: number): void {
  if (v !== COORDINATOR_PROTOCOL_VERSION) {
    throw new FailedPrecondition(`worker speaks coordinator protocol ${v}, this coordinator ${COORDINATOR_PROTOCOL_VERSION}`);
  }
}

function workerId(w: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,128}$/.test(w)) throw new BadRequest(`worker id '${w.slice(0, 140)}' is not 1-128 of [A-Za-z0-9_.:@-]`);
  return w;
}

function shardVersion(v: ShardVersionMsg): ShardVersion {
  if (!v.table || !(Number.isInteger(v.shard) && Number.isInteger(Number(v.version)))) throw new BadRequest(`report: a malformed table version ${JSON.stringify(v)}`);
  return { table: v.table, shard: v.shard, version: Number(v.version) };
}

function evalSplit(split: string): 'valid' | 'test' {
  if (split !== 'valid' && split !== 'test') throw new BadRequest(`report: split '${split.slice(0, 40)}' is not valid or test`);
  return split;
}

/** A range's sums: every metric of the job's cut-offs (and nothing else), finite; the users a count. */
function evalTotals(r: ReportEvalRequest, ks: readonly number[]): MetricTotals {
  const want = [...new Set(ks)].sort((a, b) => a - b).flatMap((k) => METRICS.map((m) => metricKey(m, k)));
  const sums = r.sums ?? {};
  const missing = want.find((key) => !Number.isFinite(sums[key]));
  if (missing) throw new BadRequest(`report: sums lack a finite '${missing}' (got ${JSON.stringify(sums[missing] ?? null)})`);
  const extra = Object.keys(sums).find((key) => !want.includes(key));
  if (extra) throw new BadRequest(`report: sums have '${extra.slice(0, 40)}', not a metric of this job's cut-offs ${ks.join(', ')}`);
  if (!(Number.isInteger(r.users) && r.users >= 0)) throw new BadRequest(`report: users ${r.users} is not a count`);
  return { sums: Object.fromEntries(want.map((key) => [key, sums[key]])), users: r.users };
}

function triples(b: Batch): TriplesMsg {
  return { users: bytesOf(b.users), pos: bytesOf(b.pos), neg: bytesOf(b.neg) };
}

function leaseReply(o: LeaseOutcome): LeaseReply {
  switch (o.kind) {
    case 'wait':
      return { wait: { reason: o.reason } };
    case 'stop':
      return { stop: { reason: o.reason } };
    case 'rejected':
      return { rejected: { reason: o.reason } };
    case 'eval': {
      const { range, attempt, deadlineMs, generation } = o.lease;
      return { eval: { ...range, attempt, deadlineMs, generation } };
    }
    case 'task': {
      const { task, attempt, psStep, batch, whole, deadlineMs, generation } = o.lease;
      return {
        task: {
          epoch: task.epoch,
          step: task.step,
          index: task.index,
          attempt,
          psStep,
          start: task.start,
          end: task.end,
          batchSize: task.batchSize,
          weight: task.weight,
          triples: triples(batch),
          batchTerms: whole !== null,
          whole: whole ? triples(whole) : null,
          deadlineMs,
          generation,
        },
      };
    }
  }
}
