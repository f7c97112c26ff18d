export { splitStep, stepSizes, taskKey, taskTriples } from './split.js';
export type { Task, TaskRef, Triples } from './split.js';
export { begin, decide } from './policy.js';
export type {
  AcceptedTask,
  Action,
  Decision,
  Event,
  FinishReason,
  Phase,
  PolicyConfig,
  RequeueReason,
  ResumePoint,
  State,
} from './policy.js';
export type { StaleReason } from './leases.js';
export { InProcessTaskQueue, taskSchema } from './taskqueue.js';
export type { InProcessQueueOptions, TaskLease, TaskQueue } from './taskqueue.js';
export { JetStreamTaskQueue, taskStreamName, taskSubject } from './jetstream-queue.js';
export type { JetStreamQueueOptions } from './jetstream-queue.js';
