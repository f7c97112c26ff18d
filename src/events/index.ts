export type { BusMode, EventBus, EventSubscription, SubscribeOptions } from './bus.js';
export { InMemoryEventBus } from './memory.js';
export type { MemoryBusOptions } from './memory.js';
export { NatsEventBus, connectNats, jobStreamName } from './nats.js';
export type { NatsBusOptions, NatsConnectOptions } from './nats.js';
export {
  EVENT_KINDS,
  EVENT_SCHEMA_VERSION,
  SUBJECT_ROOT,
  isJobId,
  decodeEvent,
  encodeEvent,
  eventData,
  jobWildcard,
  subjectOf,
} from './schema.js';
export type { EventData, EventKind, JobEvent } from './schema.js';
export { EventBusError, EventPayloadError } from './errors.js';
