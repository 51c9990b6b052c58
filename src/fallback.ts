import { isPort } from './address.js';
import type { DatagramFallback } from './datagram.js';
import { SocketActivationError } from './errors.js';
import type { StreamFallback } from './listen.js';

/** An inet fallback after {@link streamFallback} or {@link datagramFallback}, every field checked. */
export type InetFallback = { readonly port: number; readonly host: string | undefined };
/** A development fallback after {@link streamFallback}: one shape, every field checked. */
export type CheckedFallback = InetFallback | { readonly path: string; readonly removeStale: boolean };

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Array.isArray(value) ? 'an array' : 'an object';
  }
}

// The likely mistakes get their fix: `fallback: process.env.PORT` is a string.
function hint(value: unknown): string {
  if (typeof value === 'string' && /^\d+$/.test(value)) return ` For a port from the environment, pass Number(${JSON.stringify(value)}) (or parseInt), checked.`;
  if (typeof value === 'string') return ` For a unix socket path, pass { path: ${JSON.stringify(value)} }.`;
  return '';
}

function invalid(fn: string, expected: string, found: unknown, why = ''): never {
  throw new SocketActivationError('ERR_INVALID_ARGUMENT', `${fn}: fallback must be ${expected}; found ${why || shown(found)}.${why ? '' : hint(found)}`, {
    argument: 'fallback',
    expected,
    found,
  });
}

function inet(fn: string, expected: string, value: Record<string, unknown>): InetFallback {
  if (!isPort(value.port)) invalid(fn, expected, value, `port ${shown(value.port)}, which is not an integer from 0 to 65535`);
  if (value.host !== undefined && (typeof value.host !== 'string' || value.host === '')) invalid(fn, expected, value, `host ${shown(value.host)}, which is not an address or host name`);
  return { port: value.port, host: value.host as string | undefined };
}

/**
 * Checks `listen()`'s fallback (a port, `{ port, host? }` or `{ path, removeStale? }`) whether
 * or not it is used, so that a mistake shows in development and under systemd alike.
 * @throws ERR_INVALID_ARGUMENT naming what was found.
 * @internal
 */
export function streamFallback(fn: string, value: StreamFallback): CheckedFallback {
  const expected = 'a port number (0–65535), { port, host? } or { path, removeStale? }';
  if (isPort(value)) return { port: value, host: undefined };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid(fn, expected, value);
  const v = value as Record<string, unknown>;
  if (v.port !== undefined && v.path !== undefined) invalid(fn, expected, value, `${shown(value)}, which has both a port and a path`);
  // Other keys are left alone: a fallback is often a spread configuration object.
  if (v.path === undefined) return inet(fn, expected, v);
  if (typeof v.path !== 'string' || v.path === '') invalid(fn, expected, value, `path ${shown(v.path)}, which is not a file-system path`);
  if (v.removeStale !== undefined && typeof v.removeStale !== 'boolean') invalid(fn, expected, value, `removeStale ${shown(v.removeStale)}, which is not a boolean`);
  return { path: v.path, removeStale: v.removeStale === true };
}

/**
 * Checks `bindDatagram()`'s fallback (a port or `{ port, host? }`), whether or not it is used.
 * @throws ERR_INVALID_ARGUMENT naming what was found.
 * @internal
 */
export function datagramFallback(fn: string, value: DatagramFallback): InetFallback {
  const expected = 'a port number (0–65535) or { port, host? }';
  if (isPort(value)) return { port: value, host: undefined };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid(fn, expected, value);
  const v = value as Record<string, unknown>;
  if (v.path !== undefined) invalid(fn, expected, value, `${shown(value)}: Node's dgram module binds UDP only, not unix datagram sockets`);
  return inet(fn, expected, v);
}

/**
 * Checks `listen()`'s backlog option: Node ignores a value it cannot use and listens with 511.
 * @throws ERR_INVALID_ARGUMENT naming what was found.
 * @internal
 */
export function checkBacklog(fn: string, value: unknown): void {
  // listen(2) takes any int: the kernel caps it at net.core.somaxconn, and a negative one means that.
  if (value === undefined || (Number.isInteger(value) && Math.abs(value as number) <= 0x7fffffff)) return;
  throw new SocketActivationError('ERR_INVALID_ARGUMENT', `${fn}: backlog must be an integer (the kernel caps it at net.core.somaxconn); found ${shown(value)}.`, {
    argument: 'backlog',
    expected: 'integer',
    found: value,
  });
}

/**
 * Node's error from binding an inet fallback, its message completed with what to do for the
 * usual causes, as the launcher words them (its code and fields stay Node's): alone, "listen
 * EADDRINUSE: address already in use 127.0.0.1:8080" says neither that this was the
 * development fallback nor what to change.
 * @internal
 */
export function explainFallbackError(err: unknown, fallback: InetFallback, type: 'tcp' | 'udp'): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(e instanceof Error)) return err;
  const why =
    e.code === 'EADDRINUSE'
      ? `another process ${type === 'tcp' ? 'listens on' : 'is bound to'} this port (see \`ss -${type === 'tcp' ? 'lt' : 'lu'}np\`): stop it, or choose another fallback port`
      : e.code === 'EACCES' && fallback.port < 1024
        ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE: choose a fallback port from 1024'
        : e.code === 'EADDRNOTAVAIL' && fallback.host !== undefined
          ? `${fallback.host} is not an address of this machine: choose another fallback host`
          : undefined;
  if (why) e.message += ` (the fallback address, this process not being activated: ${why})`;
  return err;
}
