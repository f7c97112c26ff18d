/**
 * Typed errors with a stable `code`. They are caught once, at the CLI edge, and mapped to an exit code
 * and one clear line (DESIGN.md §1: 2 bad input or config, 3 a peer could not be reached, 1 anything else).
 */
export type ErrorCode = 'DATA' | 'CONFIG' | 'PEER_UNAVAILABLE' | 'STALE_VERSION' | 'CHECKPOINT' | 'BACKEND';

export abstract class CamrecError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where in a file a data error was found; every part is optional but the file. */
export interface DataLocation {
  file: string;
  line?: number;
  field?: string;
}

/** Bad input data: the message names the file, and the line and field where they are known. */
export class DataError extends CamrecError {
  readonly code = 'DATA' as const;
  readonly exitCode = 2;
  readonly location: DataLocation;
  constructor(location: DataLocation, reason: string, options?: { cause?: unknown }) {
    super(`${formatLocation(location)}: ${reason}`, options);
    this.location = location;
  }
}

export class ConfigError extends CamrecError {
  readonly code = 'CONFIG' as const;
  readonly exitCode = 2;
}

export class CheckpointError extends CamrecError {
  readonly code = 'CHECKPOINT' as const;
  readonly exitCode = 2;
}

export class BackendError extends CamrecError {
  readonly code = 'BACKEND' as const;
  readonly exitCode = 2;
}

export class PeerUnavailable extends CamrecError {
  readonly code = 'PEER_UNAVAILABLE' as const;
  readonly exitCode = 3;
}

export class StaleVersion extends CamrecError {
  readonly code = 'STALE_VERSION' as const;
  readonly exitCode = 1;
}

export function formatLocation(loc: DataLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.field !== undefined) s += ` (field ${loc.field})`;
  return s;
}
