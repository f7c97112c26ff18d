/**
 * The wire messages of proto/paramserver.proto as @grpc/proto-loader decodes them (camelCase fields, 64-bit
 * integers as numbers, enums as their names, defaults filled in), and the loaded service definitions.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePrepareRequest, decodePullReply, decodePushRequest, encodePrepareRequest, encodePullReply, encodePushRequest } from './codec.js';

/** The protocol's version, also the proto package's suffix (camrec.paramserver.v1). */
export const PROTOCOL_VERSION = 1;

/** proto/ at the package root: two levels above this file in src/ (tsx) and in dist/ (compiled). */
export const PROTO_DIR = join(fileURLToPath(new URL('../..', import.meta.url)), 'proto');

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

export type PlacementMsg = 'PLACEMENT_ROWS' | 'PLACEMENT_WHOLE';

export interface TableDefMsg {
  name: string;
  rows: number;
  dim: number;
  trainable: boolean;
  placement: PlacementMsg;
  init: string;
  values: Uint8Array;
  dense: boolean;
}

export interface OptimizerMsg {
  kind: string;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  initialAccumulator: number;
}

export interface ConsistencyMsg {
  mode: string;
  staleness: number;
  workers: number;
}

export interface InitRequest {
  shards: number;
  seed: number;
  optimizer: OptimizerMsg | null;
  consistency: ConsistencyMsg | null;
  tables: TableDefMsg[];
}

export interface InitReply {
  already: boolean;
  step: number;
}

export interface TableInfoMsg {
  name: string;
  rows: number;
  dim: number;
  trainable: boolean;
  placement: PlacementMsg;
  ownerShard: number;
  localRows: number;
  version: number;
}

export interface DescribeReply {
  shard: number;
  shards: number;
  initialised: boolean;
  step: number;
  consistency: ConsistencyMsg | null;
  tables: TableInfoMsg[];
  protocolVersion: number;
  generation: number;
}

/**
 * A ValueEncoding as @grpc/proto-loader decodes it (enums: String): its name, or its number when this build does
 * not know it (a newer peer's); codec.ts decodes the same way.
 */
export type ValueEncodingMsg = 'VALUE_ENCODING_F32' | 'VALUE_ENCODING_BF16' | 'VALUE_ENCODING_F16' | number;

export interface PullRequest {
  table: string;
  ids: Uint8Array;
  allRows: boolean;
  changedOnly: boolean;
  sinceVersion: number;
  /** Absent on the way out: float32 (the field left out, as before it existed). */
  encoding?: ValueEncodingMsg;
  /** A prefetch (docs/paramserver.md "Prefetch"): held until the table's version reaches this, at most holdMs. */
  minVersion?: number;
  holdMs?: number;
}

export interface PullReply {
  table: string;
  ids: Uint8Array;
  values: Uint8Array;
  rowVersions: Uint8Array;
  version: number;
  incarnation: number;
  encoding?: ValueEncodingMsg;
}

export interface RowBlockMsg {
  table: string;
  ids: Uint8Array;
  values: Uint8Array;
  allRows: boolean;
  encoding?: ValueEncodingMsg;
}

/**
 * Rows picked from a [n, dim] array, to be sent as a `values` field: from[pick[0]], from[pick[1]], … (every row
 * of `from` when pick is null); codec.ts gathers them straight into the message, narrowed when the block's
 * encoding is 16-bit.
 */
export interface PickedRows {
  readonly from: Float32Array;
  readonly pick: ArrayLike<number> | null;
  readonly dim: number;
}

/** A RowBlock as a client sends it: the values as bytes (already in the block's encoding) or as rows to gather. */
export interface RowBlockOut extends Omit<RowBlockMsg, 'values'> {
  values: Uint8Array | PickedRows;
}

export interface TableVersionMsg {
  table: string;
  version: number;
}

export interface PushRequest {
  task: string;
  attempt: number;
  clock: number;
  blocks: RowBlockMsg[];
  /** The coordinator generation behind the request (0 when absent); older than the shard's fence: ABORTED. */
  generation?: number;
}

export type PushRequestOut = Omit<PushRequest, 'blocks'> & { blocks: RowBlockOut[] };

export interface PushReply {
  duplicate: boolean;
  step: number;
  versions: TableVersionMsg[];
}

export interface PrepareRequest {
  step: number;
  task: string;
  attempt: number;
  blocks: RowBlockMsg[];
  /** The coordinator generation behind the request (0 when absent); older than the shard's fence: ABORTED. */
  generation?: number;
}

export type PrepareRequestOut = Omit<PrepareRequest, 'blocks'> & { blocks: RowBlockOut[] };

export interface PrepareReply {
  duplicate: boolean;
  stagedTasks: number;
}

export interface CommitRequest {
  step: number;
  tasks: string[];
  /** The coordinator generation behind the request (0 when absent); older than the shard's fence: ABORTED. */
  generation?: number;
}

export interface CommitReply {
  step: number;
  tasks: number;
  versions: TableVersionMsg[];
}

export interface AbortRequest {
  step: number;
  /** The coordinator generation behind the request (0 when absent); older than the shard's fence: ABORTED. */
  generation?: number;
}

export interface FenceRequest {
  generation: number;
}

export interface FenceReply {
  generation: number;
}

export interface AbortReply {
  discardedTasks: number;
}

export interface ClockRequest {
  worker: number;
  clock: number;
}

export interface ClockReply {
  minClock: number;
  waited: boolean;
}

export interface ExportRequest {
  maxChunkBytes: number;
}

export interface StateChunk {
  step: number;
  table: string;
  slot: number;
  firstRow: number;
  rows: number;
  values: Uint8Array;
}

export interface ImportReply {
  step: number;
}

export interface CheckpointReply {
  path: string;
  step: number;
  bytes: number;
}

export interface StatsReply {
  shard: number;
  step: number;
  rowsPulled: number;
  rowsPushed: number;
  bytesPulled: number;
  bytesPushed: number;
  pulls: number;
  pushes: number;
  commits: number;
  aborts: number;
  duplicates: number;
  tasksApplied: number;
  stagedTasks: number;
  clockWaiters: number;
  versions: TableVersionMsg[];
}

export type Empty = Record<string, never>;

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: HealthStatus;
}

interface Loaded {
  paramServer: grpc.ServiceClientConstructor;
  health: grpc.ServiceClientConstructor;
}

let loaded: Loaded | null = null;

/** The ParamServer and Health services, loaded once from proto/. */
export function services(): Loaded {
  if (loaded) return loaded;
  const def = protoLoader.loadSync([join(PROTO_DIR, 'paramserver.proto'), join(PROTO_DIR, 'health.proto')], LOADER_OPTIONS);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const pkg = grpc.loadPackageDefinition(def) as any;
  loaded = { paramServer: withRowCodecs(pkg.camrec.paramserver.v1.ParamServer), health: pkg.grpc.health.v1.Health };
  return loaded;
}

/** The service with codec.ts's hand-written codecs for the messages that carry rows; protobufjs for the rest. */
function withRowCodecs(loadedService: grpc.ServiceClientConstructor): grpc.ServiceClientConstructor {
  const s = loadedService.service;
  const service: grpc.ServiceDefinition = {
    ...s,
    Pull: { ...s.Pull, responseSerialize: encodePullReply, responseDeserialize: decodePullReply },
    Push: { ...s.Push, requestSerialize: encodePushRequest, requestDeserialize: decodePushRequest },
    Prepare: { ...s.Prepare, requestSerialize: encodePrepareRequest, requestDeserialize: decodePrepareRequest },
  };
  return grpc.makeGenericClientConstructor(service, 'ParamServer');
}

/** The full method path, for raw calls (tests send undecodable bytes through it). */
export const PARAM_SERVER_SERVICE = 'camrec.paramserver.v1.ParamServer';
