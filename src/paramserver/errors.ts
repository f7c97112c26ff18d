/**
 * Why the parameter server refused a request. The gRPC service maps each to a status code
 * (docs/paramserver.md): InvalidRequest → INVALID_ARGUMENT, NotReady and Fenced → FAILED_PRECONDITION, ShuttingDown →
 * UNAVAILABLE, and StaleVersion (src/errors) → ABORTED. A refused request never changes the shard.
 */
export type ParamServerErrorCode = 'INVALID_REQUEST' | 'NOT_READY' | 'FENCED' | 'SHUTTING_DOWN';

export abstract class ParamServerError extends Error {
  abstract readonly code: ParamServerErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A well-formed request that names an unknown table, has the wrong row width, or bad ids. */
export class InvalidRequest extends ParamServerError {
  readonly code = 'INVALID_REQUEST' as const;
}

/** The request is valid but the shard is not in a state to serve it (not initialised, step not prepared, ...). */
export class NotReady extends ParamServerError {
  readonly code = 'NOT_READY' as const;
}

/** The server is stopping: the call was not served (UNAVAILABLE). */
export class ShuttingDown extends ParamServerError {
  readonly code = 'SHUTTING_DOWN' as const;
}

/**
 * An update from a coordinator generation older than the shard's fence (ShardState.fence): a newer coordinator
 * took over the job, and the request's task belongs to the one before it (FAILED_PRECONDITION, not ABORTED, so
 * that no client mistakes it for "another attempt of this task was applied").
 */
export class Fenced extends ParamServerError {
  readonly code = 'FENCED' as const;
}
