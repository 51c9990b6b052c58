import net from 'node:net';
import { inspect } from './descriptor.js';
import { objectOptions, shownValue, SocketActivationError } from './errors.js';
import { fdOf, fdStoreLimit, removedByThisProcess, store, storedByThisProcess, storeRemove } from './fd-store.js';
import { checkFdName } from './notify-message.js';
import { type NotifyOptions } from './notify.js';
import { activation } from './registry.js';
import { connectionSocket } from './adopt.js';
import { isConnection } from './select.js';
import { successorServing } from './successor-serving.js';

/** The name prefix {@link keepConnection} stores under and {@link keptConnections} takes back. */
export const KEPT_PREFIX = 'kept.';

/** Options for {@link keepConnection}. */
export interface KeepOptions extends NotifyOptions {
  /** The fd store name; default `kept.<pid>.<n>`. It must start with the prefix given to {@link keptConnections} later. */
  readonly name?: string;
  /**
   * Called once reading has stopped, right before the connection is stored: return `false`
   * when the protocol is not at a message boundary (e.g. half a request was already read), and
   * the call rejects with ERR_NOT_MOVABLE instead of moving it.
   */
  readonly idle?: () => boolean;
}

/** Options for {@link keptConnections}. */
export interface KeptOptions extends NotifyOptions {
  /** @default 'kept.' */
  readonly prefix?: string;
  /** Passed to each net.Socket. @default false */
  readonly allowHalfOpen?: boolean;
}

interface Internals {
  _handle?: { fd?: number; reading?: boolean; readStart(): number; readStop(): number } | null;
}

let counter = 0;

function refuse(why: string, fd?: number): SocketActivationError {
  return new SocketActivationError('ERR_NOT_MOVABLE', `This connection cannot be kept: ${why}`, { fd, expected: 'an idle plain TCP or unix stream connection', found: why });
}

/**
 * Stops Node reading from a connection that is about to leave this process, so that bytes
 * arriving meanwhile stay in the kernel for the next owner of the fd; returns what starts
 * reading again if the connection stays here after all. @internal
 */
export function stopReading(socket: net.Socket): () => void {
  const handle = (socket as Internals)._handle;
  if (!handle) return () => undefined;
  handle.readStop();
  handle.reading = false;
  return () => {
    // Node's IPC send takes the handle away from the socket: then there is nothing to resume.
    if ((socket as Internals)._handle === handle && !handle.reading) {
      handle.reading = true;
      handle.readStart();
    }
  };
}

/**
 * Refuses a connection the manager would drop: systemd (and the launcher) close an fd sent
 * over FileDescriptorStoreMax= at once — for a connection, a FIN at whatever moment, under a
 * request its client may be sending. Only where the limit is announced ($FDSTORE), and
 * counting only what this process knows to be in the store: what it stored, and the kept
 * connections it inherited and did not take back (fds a predecessor stored under other names
 * are not told apart from the socket unit's).
 */
function checkRoom(fd: number): void {
  const limit = fdStoreLimit();
  // During a reload the launcher passes kept connections to the new child, not to its store.
  if (limit === undefined || successorServing()) return;
  let inherited = 0;
  try {
    const a = activation();
    if (a.activated) for (const d of a.descriptors) if (isConnection(d) && !removedByThisProcess(d.name)) inherited++;
  } catch {
    // LISTEN_* unusable: nothing inherited to count
  }
  const used = storedByThisProcess() + inherited;
  if (used < limit) return;
  throw new SocketActivationError(
    'ERR_FD_STORE_FULL',
    `This connection cannot be kept: the fd store is full ($FDSTORE=${limit}, and ${used} fds are in it: stored by this process, or kept connections it inherited and did not take back), ` +
      'so the manager would drop it, closing it under any request its client is sending. End it by its protocol instead, or raise FileDescriptorStoreMax= (the launcher\'s --fd-store-max).',
    { fd, expected: `room in the fd store (at most ${limit} fds)`, found: used },
  );
}

/**
 * Keeps an open connection across a restart: stores it in the manager's fd store and gives up
 * this process's fd without a FIN (`destroy()`), so the client's TCP session stays open while
 * the service restarts. The next process takes it back with {@link keptConnections}, with no
 * byte lost and no reconnect. Call it just before exiting, for connections that are idle at a
 * message boundary of their protocol.
 *
 * Refused (ERR_NOT_MOVABLE): TLS sockets (the session keys live in this process), and sockets
 * holding bytes Node has read but nobody consumed. HTTP/2 sessions cannot move either (their
 * state lives in this process). Unsent writes are flushed first. Needs FileDescriptorStoreMax=
 * large enough: systemd 252 drops fds over the limit silently, which closes the connection.
 * Where the manager announces the limit (`$FDSTORE`: systemd ≥ 254, the launcher), a
 * connection that would not fit is refused (ERR_FD_STORE_FULL) and left as it was; the room
 * counts what this process stored and the kept connections it inherited and did not take back.
 *
 * @returns `true` when stored and released; `false` when there is no manager — the socket is
 * then left as it was (end it yourself).
 */
export async function keepConnection(socket: net.Socket, options: KeepOptions | null = {}): Promise<boolean> {
  if (!(socket instanceof net.Socket)) {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `keepConnection needs a net.Socket, found ${Object.prototype.toString.call(socket)}.`, {
      argument: 'socket',
      expected: 'net.Socket',
      found: typeof socket,
    });
  }
  options = objectOptions('keepConnection', options);
  if (options.idle !== undefined && typeof options.idle !== 'function') {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `keepConnection's idle must be a function returning a boolean, found ${typeof options.idle}.`, { argument: 'idle', expected: 'function', found: options.idle });
  }
  const name = checkFdName(options.name ?? `${KEPT_PREFIX}${process.pid}.${++counter}`);
  const fd = fdOf(socket, 'keepConnection(): the socket has no open fd (not connected yet, or already closed): there is no connection to keep.');
  const d = inspect(fd);
  if (!isConnection(d)) throw refuse('it is not a connected stream socket', fd);
  if (socket.writableLength > 0) {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      socket.once('error', onError);
      socket.once('drain', () => {
        socket.off('error', onError);
        resolve();
      });
    });
  }
  // From here on no byte may enter Node: the next process must read it from the kernel.
  const resumeReading = stopReading(socket);
  if (socket.readableLength > 0) {
    resumeReading();
    throw refuse(`${socket.readableLength} bytes were read from it but not consumed; they would be lost`, fd);
  }
  let idle: boolean;
  try {
    idle = options.idle ? options.idle() : true;
  } catch (err) {
    resumeReading(); // the socket goes on as it was
    throw err;
  }
  if (!idle) {
    resumeReading();
    throw refuse('the idle() check said the protocol is in the middle of a message', fd);
  }
  let told: boolean;
  try {
    // Checked right before store(), which counts the fd at once: two connections kept at the
    // same time cannot both take the last place.
    checkRoom(fd);
    told = await store(name, socket, options);
  } catch (err) {
    resumeReading();
    throw err;
  }
  if (!told) {
    resumeReading();
    return false;
  }
  // Closes our fd only: the manager holds the connection now, so nothing goes on the wire.
  socket.destroy();
  return true;
}

/**
 * Takes back the connections an earlier process kept with {@link keepConnection} (inherited
 * connected sockets whose name starts with `prefix`), as net.Socket objects, and removes them
 * from the fd store (FDSTOREREMOVE), so that closing them later really closes them. Hand each
 * to its server with `server.emit('connection', socket)`.
 *
 * A connection whose removal from the store fails is ended (FIN) and reported as a process
 * warning, so it can never linger half-open in the store.
 */
export async function keptConnections(options: KeptOptions | null = {}): Promise<net.Socket[]> {
  options = objectOptions('keptConnections', options);
  const prefix = options.prefix ?? KEPT_PREFIX;
  if (typeof prefix !== 'string' || prefix === '') {
    // An empty prefix would take every inherited connection, an Accept=yes one included.
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `keptConnections's prefix must be a non-empty string, found ${shownValue(prefix)}.`, { argument: 'prefix', expected: 'non-empty string', found: prefix });
  }
  const a = activation();
  if (!a.activated) return [];
  const taken: { socket: net.Socket; name: string }[] = [];
  for (const d of a.descriptors) {
    if (!isConnection(d) || !d.name.startsWith(prefix)) continue;
    try {
      taken.push({ socket: connectionSocket(d, options.allowHalfOpen), name: d.name });
    } catch (err) {
      if ((err as SocketActivationError).code !== 'ERR_FD_TAKEN') throw err;
    }
  }
  const kept = await Promise.all(
    taken.map(({ socket, name }) =>
      storeRemove(name, options).then(
        () => socket,
        (err: Error) => {
          socket.end();
          process.emitWarning(`Connection ${JSON.stringify(name)} could not be removed from the fd store, so it was ended: ${err.message}`, {
            code: 'SOCKET_ACTIVATION_FDSTORE',
          });
          return undefined;
        },
      ),
    ),
  );
  return kept.filter((s): s is net.Socket => s !== undefined);
}
