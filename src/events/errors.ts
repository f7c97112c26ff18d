/** Errors of the event layer, with a stable `code` as src/errors has them. */

/** A received event that is not valid: bad JSON, a missing or mistyped field, a newer schema, a wrong subject. */
export class EventPayloadError extends Error {
  readonly code = 'EVENT_PAYLOAD' as const;
  constructor(
    readonly subject: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`bad event on ${subject}: ${reason}`, options);
    this.name = 'EventPayloadError';
  }
}

/** The bus cannot do what was asked (replay without a durable stream, use after close, a bad job id). */
export class EventBusError extends Error {
  readonly code = 'EVENT_BUS' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventBusError';
  }
}
