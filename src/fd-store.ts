import dgram from 'node:dgram';
import type net from 'node:net';
import { checkUnchanged, closeDuplicate, outOfFds } from './adopt.js';
import { describeFd, RUNTIME_ANON_TYPES, type Descriptor } from './descriptor.js';
import { errnoException, shownValue, SocketActivationError } from './errors.js';
import { native } from './native.js';
import { checkFdName, encodeFields } from './notify-message.js';
import { send, type NotifyOptions } from './notify.js';

/**
 * What {@link store} accepts: an fd number, a descriptor (from `listeners()`/`inspect()`), a
 * listening net/http/https/http2 server, a net.Socket or a dgram socket.
 */
export type Storable = number | { readonly fd: number } | net.Server | net.Socket | dgram.Socket;

/** Options for {@link store}. */
export interface StoreOptions extends NotifyOptions {
  /**
   * `false` sends FDPOLL=0: the manager then keeps the fd even after it reports a hang-up or
   * error (by default systemd drops such fds from the store).
   * @default true
   */
  readonly poll?: boolean;
}

interface HasHandle {
  _handle?: { fd?: number } | null;
  encrypted?: boolean;
}

/**
 * The libuv handle of a net or dgram socket or server (null once closed). A dgram.Socket's
 * `_handle` getter is deprecated (DEP0112: a warning, a crash under --throw-deprecation) and
 * gone in Node 26, so its handle is read from the state Node keeps under a symbol described as
 * 'state symbol' (Node 18.18 to 26).
 */
function handleOf(target: object): { fd?: number } | null | undefined {
  if (target instanceof dgram.Socket) {
    const key = Object.getOwnPropertySymbols(target).find((s) => s.description === 'state symbol');
    const state = key === undefined ? undefined : (target as unknown as Record<symbol, unknown>)[key];
    if (typeof state === 'object' && state !== null && 'handle' in state) return state.handle as { fd?: number } | null;
  }
  return (target as HasHandle)._handle;
}

// What this process knows to be in the store: the fds it stored, by name (FDSTOREREMOVE removes
// a name), those on their way, and the names it removed. The manager answers nothing, so this
// and `$FDSTORE` are all there is to tell how much room is left.
const storedHere = new Map<string, number>();
const removedHere = new Set<string>();
let sending = 0;

/** How many fds this process has stored (or is storing) and not removed since. @internal */
export function storedByThisProcess(): number {
  let n = sending;
  for (const count of storedHere.values()) n += count;
  return n;
}

/** Whether this process has removed every fd stored under `name`. @internal */
export function removedByThisProcess(name: string): boolean {
  return removedHere.has(name);
}

function notMovable(what: string, why: string, expected = 'an fd, a descriptor, a listening server or a plain socket'): SocketActivationError {
  return new SocketActivationError('ERR_NOT_MOVABLE', `${what} cannot be stored: ${why}`, { expected, found: what });
}

// A descriptor from inspect() or listeners(), not a socket or server (those have a _handle).
function isDescriptorLike(target: unknown): target is Pick<Descriptor, 'fd' | 'name' | 'dev' | 'ino'> {
  const t = target as Partial<Descriptor> | null;
  return typeof t === 'object' && t !== null && !('_handle' in t) && typeof t.fd === 'number' && typeof t.dev === 'number' && typeof t.ino === 'number';
}

/**
 * The fd behind a storable value, checked to be a number this process has open; `unopened`
 * is the message for a server or socket without one.
 * @internal
 */
export function fdOf(target: Storable, unopened = 'The server or socket has no open fd to store (not listening yet, already closed, or not backed by an fd on this platform). Store it once it is listening.'): number {
  let fd: unknown;
  if (typeof target === 'number') fd = target;
  else if (target && typeof target === 'object') {
    const object = target as HasHandle & { fd?: unknown };
    if (object.encrypted === true) {
      throw notMovable(
        'A TLS socket',
        'its session state (keys, sequence numbers) lives inside this process and cannot be sent with the fd. Drain TLS connections instead of keeping them.',
      );
    }
    if (object instanceof dgram.Socket || '_handle' in object) {
      fd = handleOf(object)?.fd;
      if (typeof fd !== 'number' || fd < 0) {
        throw new SocketActivationError(
          'ERR_INVALID_ARGUMENT',
          unopened,
          { argument: 'target', expected: 'a listening server or an open socket', found: fd ?? null },
        );
      }
    } else fd = object.fd;
  }
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `store(): expected an fd (integer >= 0), a descriptor, a server or a socket to store, found ${shownValue(fd ?? target)}.`, {
      argument: 'target',
      expected: 'fd | descriptor | server | socket',
      found: fd ?? target,
    });
  }
  return fd;
}

/**
 * Puts an fd in the service manager's fd store under `name` (`FDSTORE=1`, `FDNAME=`), one
 * message per name, so that it comes back in LISTEN_FDS (with that name) after a restart:
 * look it up by name with `listener(name)`, `listenersNamed(name)` or `listen(server, name)`.
 * The store must be enabled (FileDescriptorStoreMax=). A duplicate is sent, so the caller
 * keeps using its fd.
 *
 * What the manager does not report (systemd 252): a disabled or full store drops the fd
 * silently, and a socket already in the store is ignored (it stays under its first name).
 * {@link fdStoreLimit} tells the limit where the manager publishes it (systemd ≥ 254).
 *
 * @returns `true` once sent, `false` when there is no manager (NOTIFY_SOCKET unset).
 * @throws (rejects) ERR_FDNAME, ERR_NOT_MOVABLE (a TLS socket; an eventfd, epoll or io_uring fd,
 * which the next start could not tell from Node's own), ERR_INVALID_ARGUMENT, a system
 * error with `fd` when the fd is not open, or a notify error.
 */
export function store(name: string, target: Storable, options?: StoreOptions): Promise<boolean> {
  let duplicate: number;
  let message: string;
  try {
    checkFdName(name);
    if (options?.poll !== undefined && typeof options.poll !== 'boolean') {
      throw new SocketActivationError('ERR_INVALID_ARGUMENT', `store()'s poll must be true or false, found ${shownValue(options.poll)}.`, { argument: 'poll', expected: 'boolean', found: options.poll });
    }
    const fd = fdOf(target);
    // A descriptor names the file it was inspected as: its fd number may have been reused since.
    if (isDescriptorLike(target)) checkUnchanged(target);
    const d = describeFd(fd);
    if (typeof d !== 'number' && d.kind === 'anon' && RUNTIME_ANON_TYPES.has(d.anonType)) {
      // Stored, it would come back among LISTEN_FDS and make every later start fail.
      throw notMovable(
        `fd ${fd} (an ${d.anonType})`,
        `after a restart it would be passed among LISTEN_FDS, where it cannot be told from Node's own ${d.anonType} (Node marks inherited fds close-on-exec, as libuv opens its own), so listeners() would refuse them all. Keep such state in a memfd or a file instead.`,
        'a socket, file, memfd or pipe (not an anonymous inode of the kinds Node opens)',
      );
    }
    message = encodeFields(options?.poll === false ? { FDSTORE: true, FDNAME: name, FDPOLL: 0 } : { FDSTORE: true, FDNAME: name });
    // Our own reference travels with the message, so the fd the caller holds may be closed
    // (or reused) while a full manager queue delays the send.
    duplicate = native().dup(fd);
    if (duplicate < 0) throw errnoException(duplicate, 'fcntl', fd, `duplicating it to store it as ${JSON.stringify(name)}${outOfFds(duplicate) ?? ''}`);
  } catch (err) {
    return Promise.reject(err);
  }
  sending++;
  return send(message, [duplicate], options)
    .then((sent) => {
      if (sent) storedHere.set(name, (storedHere.get(name) ?? 0) + 1);
      return sent;
    })
    .finally(() => {
      sending--;
      closeDuplicate(duplicate);
    });
}

/**
 * Removes every fd stored under `name` from the manager's fd store (`FDSTOREREMOVE=1`). The
 * manager closes its copies; fds this process holds stay open.
 *
 * @returns `true` once sent, `false` when there is no manager.
 */
export function storeRemove(name: string, options?: NotifyOptions): Promise<boolean> {
  try {
    checkFdName(name);
  } catch (err) {
    return Promise.reject(err);
  }
  return send(encodeFields({ FDSTOREREMOVE: true, FDNAME: name }), [], options).then((sent) => {
    if (sent) {
      storedHere.delete(name);
      removedHere.add(name);
    }
    return sent;
  });
}

/**
 * The fd store's size as the manager announces it in `$FDSTORE` (systemd ≥ 254 sets it when
 * FileDescriptorStoreMax= > 0, the launcher when --fd-store-max > 0). `undefined` when not
 * announced — systemd 252 never does, so there it means "unknown", not "disabled".
 */
export function fdStoreLimit(): number | undefined {
  const text = process.env.FDSTORE;
  if (text === undefined || !/^[0-9]+$/.test(text)) return undefined;
  return Number(text);
}
