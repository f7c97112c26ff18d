/** Why a benchmark could not produce a figure. Caught once, in bench/run.ts, and printed as one message. */
export type BenchErrorCode = 'BAD_ARGS' | 'BUILD_FAILED' | 'CHILD_FAILED' | 'PEER_UNAVAILABLE';

export class BenchError extends Error {
  readonly code: BenchErrorCode;
  constructor(code: BenchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchError';
    this.code = code;
  }
}
