/**
 * The wire messages of proto/coordinator.proto as @grpc/proto-loader decodes them (camelCase fields, 64-bit
 * integers as numbers, oneofs with their case name, defaults filled in), and the loaded service definition.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { PROTO_DIR } from '../paramserver/index.js';

/** The worker protocol's version, also the proto package's suffix (camrec.coordinator.v1). */
export const COORDINATOR_PROTOCOL_VERSION = 1;

export const COORDINATOR_SERVICE = 'camrec.coordinator.v1.Coordinator';

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

export interface GetJobRequest {
  protocolVersion: number;
}

export interface JobSpec {
  protocolVersion: number;
  job: string;
  model: string;
  hyperJson: string;
  seed: number;
  dataDir: string;
  datasetChecksum: string;
  optimizerJson: string;
  shards: string[];
  consistency: string;
  backend: string;
  heartbeatMs: number;
  tasksPerStep: number;
  /** Evaluation cut-offs; empty from coordinators before sharded evaluation. */
  ks: number[];
  /** 'policy' (empty from coordinators before the JetStream queue) or 'jetstream'. */
  taskQueue: string;
  /** The task queue's NATS server (jetstream). */
  nats: string;
  /** The task queue's lease, its ack wait (jetstream). */
  leaseMs: number;
  /** How row values travel between workers and shards (paramserver/encoding.ts); empty from coordinators before it: f32. */
  wire: string;
}

export interface JoinRequest {
  protocolVersion: number;
  worker: string;
  host: string;
  pid: number;
  evaluates: boolean;
}

export interface JoinReply {
  admitted: boolean;
  reason: string;
}

export interface HeartbeatRequest {
  worker: string;
}

export interface HeartbeatReply {
  stop: boolean;
  rejoin: boolean;
}

export interface LeaseRequest {
  worker: string;
  waitMs: number;
}

export interface ClaimRequest {
  worker: string;
  epoch: number;
  step: number;
  index: number;
  attempt: number;
}

export interface TriplesMsg {
  users: Uint8Array;
  pos: Uint8Array;
  neg: Uint8Array;
}

export interface TaskMsg {
  epoch: number;
  step: number;
  index: number;
  attempt: number;
  psStep: number;
  start: number;
  end: number;
  batchSize: number;
  weight: number;
  triples: TriplesMsg | null;
  batchTerms: boolean;
  whole: TriplesMsg | null;
  deadlineMs: number;
  /** The leasing coordinator's generation; 0 from coordinators before generations existed. */
  generation: number;
}

export interface EvalRangeMsg {
  epoch: number;
  split: string;
  index: number;
  start: number;
  end: number;
  attempt: number;
  deadlineMs: number;
  generation: number;
}

export type LeaseReply =
  | { outcome?: 'task'; task: TaskMsg }
  | { outcome?: 'eval'; eval: EvalRangeMsg }
  | { outcome?: 'wait'; wait: { reason: string } }
  | { outcome?: 'stop'; stop: { reason: string } }
  | { outcome?: 'rejected'; rejected: { reason: string } };

export interface ReportRequest {
  worker: string;
  epoch: number;
  step: number;
  index: number;
  attempt: number;
  loss: number;
  parts: Record<string, number>;
  triples: number;
  rowsPulled: number;
  rowsPushed: number;
  pullSeconds: number;
  computeSeconds: number;
  pushSeconds: number;
  error: string;
  waitSeconds: number;
  reportSeconds: number;
  bytesPulled: number;
  bytesPushed: number;
  reads: ShardVersionMsg[];
  applied: ShardVersionMsg[];
}

export interface ReportEvalRequest {
  worker: string;
  epoch: number;
  split: string;
  index: number;
  attempt: number;
  sums: Record<string, number>;
  users: number;
  error: string;
  seconds: number;
}

export interface ShardVersionMsg {
  table: string;
  shard: number;
  version: number;
}

export interface ReportReply {
  accepted: boolean;
  reason: string;
  stop: boolean;
}

export interface LeaveRequest {
  worker: string;
  reason: string;
}

export type LeaveReply = Record<string, never>;

let loaded: grpc.ServiceClientConstructor | null = null;

/** The Coordinator service, loaded once from proto/. */
export function coordinatorService(): grpc.ServiceClientConstructor {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(join(PROTO_DIR, 'coordinator.proto'), LOADER_OPTIONS);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const pkg = grpc.loadPackageDefinition(def) as any;
  loaded = pkg.camrec.coordinator.v1.Coordinator as grpc.ServiceClientConstructor;
  return loaded;
}
