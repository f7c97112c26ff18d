export { splitStep, stepSizes, taskKey, taskTriples } from './split.js';
export type { Task, TaskRef, Triples } from './split.js';
export { begin, decide } from './policy.js';
export { appliesOnArrival, formatConsistency, parseConsistency, shardConsistency, stepWindow } from './consistency.js';
export type { Consistency } from './consistency.js';
export { RANGES_PER_WORKER, rangeKey, splitUsers } from './ranges.js';
export type { EvalRange, EvalSplit, RangeRef } from './ranges.js';
export type {
  AcceptedTask,
  Action,
  Decision,
  EpochEnd,
  Evaluation,
  Event,
  FinishReason,
  Phase,
  PolicyConfig,
  RangeIgnoreReason,
  RequeueReason,
  ResumePoint,
  State,
  WaitReason,
} from './policy.js';
export type { StaleReason } from './leases.js';
export { InProcessTaskQueue, taskSchema } from './taskqueue.js';
export type { InProcessQueueOptions, TaskLease, TaskQueue } from './taskqueue.js';
export { JetStreamTaskQueue, taskStreamName, taskSubject } from './jetstream-queue.js';
export type { JetStreamQueueOptions } from './jetstream-queue.js';
export { CoordinatorJob, BATCH_TERMS_TASK, readResumePoint } from './job.js';
export type { CommittedStep, CoordinatorCheckpointState, EndedEpoch, JobOptions, LeasedRange, LeasedTask, LeaseOutcome, RangeReport, TaskReport } from './job.js';
export { CoordinatorServer, BadRequest } from './server.js';
export { TrafficAccount } from './traffic.js';
export type { EpochTraffic, TaskTiming } from './traffic.js';
export type { CoordinatorServerOptions } from './server.js';
export { CoordinatorClient, CoordinatorCallError } from './client.js';
export type { CoordinatorClientOptions } from './client.js';
export { COORDINATOR_PROTOCOL_VERSION, COORDINATOR_SERVICE } from './proto.js';
export type { EvalRangeMsg, JobSpec, TaskMsg, TriplesMsg } from './proto.js';
export { histogramOf, mergeHistograms, stalenessSamples, summarizeStaleness } from './staleness.js';
export type { ShardVersion, StalenessHistogram, StalenessSummary } from './staleness.js';
