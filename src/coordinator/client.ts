/**
 * A typed client of the coordinator's worker protocol (proto/coordinator.proto). A coordinator that cannot be
 * reached (UNAVAILABLE, DEADLINE_EXCEEDED) becomes PeerUnavailable; any other refusal a CoordinatorCallError
 * carrying its status code.
 */
import * as grpc from '@grpc/grpc-js';
import { PeerUnavailable } from '../errors/index.js';
import {
  COORDINATOR_PROTOCOL_VERSION,
  coordinatorService,
  type ClaimRequest,
  type HeartbeatReply,
  type JobSpec,
  type JoinReply,
  type LeaseReply,
  type ReportEvalRequest,
  type ReportReply,
  type ReportRequest,
} from './proto.js';

export class CoordinatorCallError extends Error {
  constructor(
    readonly status: grpc.status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CoordinatorCallError';
  }
}

export interface CoordinatorClientOptions {
  /** Sent as `authorization: Bearer <token>` when set. */
  readonly token?: string;
  /** Deadline of a call other than Lease and Report (default 30 s). */
  readonly deadlineMs?: number;
  /** TLS (src/rpc/tls.ts); default plaintext. */
  readonly credentials?: grpc.ChannelCredentials;
}

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;
type UnaryMethod<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<Res>) => grpc.ClientUnaryCall;

/** Lease and Report may wait behind a commit, an evaluation or a checkpoint on the coordinator. */
const SLOW_CALL_MS = 10 * 60_000;

export class CoordinatorClient {
  private readonly client: grpc.Client;

  constructor(
    readonly address: string,
    private readonly opts: CoordinatorClientOptions = {},
  ) {
    const Service = coordinatorService();
    this.client = new Service(address, opts.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
  }

  getJob(): Promise<JobSpec> {
    return this.call('GetJob', { protocolVersion: COORDINATOR_PROTOCOL_VERSION });
  }

  /** `evaluates`: this worker takes evaluation ranges (sharded evaluation). */
  join(worker: string, host: string, pid: number, evaluates = false): Promise<JoinReply> {
    return this.call('Join', { protocolVersion: COORDINATOR_PROTOCOL_VERSION, worker, host, pid, evaluates });
  }

  heartbeat(worker: string): Promise<HeartbeatReply> {
    return this.call('Heartbeat', { worker });
  }

  lease(worker: string, waitMs: number): Promise<LeaseReply> {
    return this.call('Lease', { worker, waitMs }, SLOW_CALL_MS + waitMs);
  }

  /** A task taken from the job's JetStream queue, delivered there for the `attempt`-th time. */
  claim(worker: string, task: { epoch: number; step: number; index: number }, attempt: number): Promise<LeaseReply> {
    const req: ClaimRequest = { worker, epoch: task.epoch, step: task.step, index: task.index, attempt };
    return this.call('Claim', req, SLOW_CALL_MS);
  }

  report(r: Partial<ReportRequest> & Pick<ReportRequest, 'worker' | 'epoch' | 'step' | 'index' | 'attempt'>): Promise<ReportReply> {
    return this.call('Report', r, SLOW_CALL_MS);
  }

  reportEval(r: Partial<ReportEvalRequest> & Pick<ReportEvalRequest, 'worker' | 'epoch' | 'split' | 'index' | 'attempt'>): Promise<ReportReply> {
    return this.call('ReportEval', r, SLOW_CALL_MS);
  }

  leave(worker: string, reason: string): Promise<void> {
    return this.call('Leave', { worker, reason }).then(() => undefined);
  }

  close(): void {
    this.client.close();
  }

  private call<Req, Res>(method: string, req: Req, deadlineMs = this.opts.deadlineMs ?? 30_000): Promise<Res> {
    const md = new grpc.Metadata();
    if (this.opts.token) md.set('authorization', `Bearer ${this.opts.token}`);
    const fn = (this.client as unknown as Record<string, UnaryMethod<Req, Res>>)[method].bind(this.client);
    return new Promise((resolve, reject) => {
      fn(req, md, { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err) return reject(mapError(err, this.address, method));
        resolve(res as Res);
      });
    });
  }
}

function mapError(err: grpc.ServiceError, address: string, method: string): Error {
  const what = `coordinator ${address}: ${method}: ${grpc.status[err.code] ?? err.code}: ${err.details}`;
  if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) return new PeerUnavailable(what, { cause: err });
  return new CoordinatorCallError(err.code, what, { cause: err });
}
