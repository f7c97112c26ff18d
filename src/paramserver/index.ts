/** The parameter server (DESIGN.md §5, docs/paramserver.md): shards, their gRPC service, and the remote store. */
export { ShardState, sumRows, configFingerprint } from './shard.js';
export type { Consistency, ShardConfig, ShardTableDef, RowBlockIn, PullOut, ShardSnapshot, TableInfo } from './shard.js';
export { defaultPlacement, wholeOwner, localRowCount, heldIds, WHOLE_MAX_ROWS } from './placement.js';
export type { Placement } from './placement.js';
export { ParamServer, DEFAULT_MAX_MESSAGE_BYTES } from './server.js';
export { HealthService, healthDefinition } from './health.js';
export type { ParamServerOptions } from './server.js';
export { ShardClient, RemoteCallError, grpcStatusOf } from './client.js';
export type { ShardClientOptions } from './client.js';
export { RemoteParamStore } from './remote-store.js';
export type { ClientTraffic, RemoteStoreOptions, ShardTableVersion, UpdateTargets } from './remote-store.js';
export { checkpointPath, readShardCheckpoint, writeShardCheckpoint } from './checkpoint.js';
export { Fenced, InvalidRequest, NotReady, ShuttingDown, ParamServerError } from './errors.js';
export { floatsOf, uintsOf, bytesOf } from './wire.js';
export { PROTO_DIR, PROTOCOL_VERSION, PARAM_SERVER_SERVICE } from './proto.js';
export { spawnShard } from './processes.js';
export type { ShardProcess, ShardLaunch } from './processes.js';
