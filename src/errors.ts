import { getSystemErrorMap } from 'node:util';
import { printable } from './address.js';
import type { NotActivatedReason } from './registry.js';

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
  | 'ERR_NOTIFY_SOCKET'
  | 'ERR_NOTIFY_MESSAGE'
  | 'ERR_FDNAME'
  | 'ERR_WATCHDOG_USEC'
  | 'ERR_WATCHDOG_PID'
  | 'ERR_FD_TAKEN'
  | 'ERR_NOT_MOVABLE'
  | 'ERR_FD_STORE_FULL'
  | 'ERR_NOT_TRACKED'
  | 'ERR_ADDON_NOT_LOADED';

/**
 * Every error this package raises itself. `code` is stable; the message says what was
 * expected, what was found and what to do. Extra fields (`fd`, `listenerName`, `variable`,
 * `argument`, `reason`, `expected`, `found`, …) carry the same facts for programs.
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
  /** The argument or option concerned (`ERR_INVALID_ARGUMENT`), when there is one. */
  declare argument?: string;
  /** `ERR_NOT_ACTIVATED`: why this process is not activated. */
  declare reason?: NotActivatedReason;
  /** What was expected: a description, or the expectation a descriptor was checked against. */
  declare expected?: unknown;
  /** What was found instead: the value given, or the descriptor that did not match. */
  declare found?: unknown;
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

/** A system error about an address rather than an fd (the notify socket), shaped like Node's. */
export interface AddressSystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address: string;
}

/**
 * A value of the wrong kind as a message shows it (strings quoted). Never throws: JSON.stringify
 * does on a bigint, and the TypeError would replace the error being built.
 */
export function shownValue(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Array.isArray(value) ? 'an array' : 'an object';
  }
}

/**
 * The options argument of `fn`: null means none, as drain() and Node's own APIs take it;
 * anything else but an object is a mistake (ERR_INVALID_ARGUMENT), not options to ignore.
 */
export function objectOptions<T extends object>(fn: string, options: T | null | undefined): T {
  if (options === null || options === undefined) return {} as T;
  if (typeof options !== 'object') throw new SocketActivationError('ERR_INVALID_ARGUMENT', `${fn}'s options must be an object, found ${typeof options}.`, { argument: 'options', expected: 'object', found: options });
  return options;
}

function systemError(errno: number, syscall: string, subject: string, context: string | undefined, caller: Function): Error & { code: string; errno: number; syscall: string } {
  const [code, description] = getSystemErrorMap().get(errno) ?? [`Unknown system error ${errno}`, 'unknown error'];
  const where = context ? ` (${context})` : '';
  const err = new Error(`${code}: ${description}, ${syscall} ${subject}${where}`) as Error & { code: string; errno: number; syscall: string };
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  Error.captureStackTrace(err, caller);
  return err;
}

/** Builds Node's system-error shape from a native `-errno` result. */
export function errnoException(errno: number, syscall: string, fd: number, context?: string): FdSystemError {
  const err = systemError(errno, syscall, `fd ${fd}`, context, errnoException) as FdSystemError;
  err.fd = fd;
  return err;
}

/** Same shape for a failure to reach an address (`address` holds it, as Node's net errors do; the message escapes its control characters). */
export function addressException(errno: number, syscall: string, address: string, context?: string): AddressSystemError {
  const err = systemError(errno, syscall, printable(address), context, addressException) as AddressSystemError;
  err.address = address;
  return err;
}
