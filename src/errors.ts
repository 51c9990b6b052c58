import { getSystemErrorMap } from 'node:util';

/** Stable error codes thrown by this package (besides Node's own system error codes). */
export type SocketActivationErrorCode =
  | 'ERR_LISTEN_PID'
  | 'ERR_LISTEN_PIDFDID'
  | 'ERR_LISTEN_FDS'
  | 'ERR_LISTEN_FDNAMES'
  | 'ERR_LISTEN_FDS_NOT_INHERITED'
  | 'ERR_NOT_ACTIVATED'
  | 'ERR_LISTENER_NOT_FOUND'
  | 'ERR_LISTENER_AMBIGUOUS'
  | 'ERR_LISTENER_MISMATCH'
  | 'ERR_FD_CHANGED'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_FALLBACK_PATH_IN_USE'
  | 'ERR_LAUNCHER_USAGE'
  | 'ERR_ADDON_NOT_LOADED';

/**
 * Every error this package raises itself. `code` is stable; the message says what was
 * expected, what was found and what to do. Extra fields (`fd`, `name`, `variable`,
 * `expected`, `found`, …) carry the same facts for programs.
 */
export class SocketActivationError extends Error {
  /** Stable machine-readable code. */
  readonly code: SocketActivationErrorCode;
  /** The file descriptor concerned, when there is one. */
  declare fd?: number;
  /** The listener name concerned, when there is one. */
  declare listenerName?: string;
  /** The environment variable concerned, when there is one. */
  declare variable?: string;
  [key: string]: unknown;

  constructor(code: SocketActivationErrorCode, message: string, fields: Record<string, unknown> = {}) {
    super(message);
    this.name = 'SocketActivationError';
    this.code = code;
    Object.assign(this, fields);
  }
}

/** A system error shaped like Node's own (`code`, `errno`, `syscall`), plus the `fd`. */
export interface FdSystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  fd: number;
}

/** Builds Node's system-error shape from a native `-errno` result. */
export function errnoException(errno: number, syscall: string, fd: number, context?: string): FdSystemError {
  const [code, description] = getSystemErrorMap().get(errno) ?? [`Unknown system error ${errno}`, 'unknown error'];
  const where = context ? ` (${context})` : '';
  const err = new Error(`${code}: ${description}, ${syscall} fd ${fd}${where}`) as FdSystemError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  err.fd = fd;
  Error.captureStackTrace(err, errnoException);
  return err;
}
