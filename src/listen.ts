import cluster from 'node:cluster';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { printable, unixAddress, type SocketAddress } from './address.js';
import { describeFd, isSameFile, type Descriptor, type StreamListenerDescriptor, type ConnectionDescriptor } from './descriptor.js';
import { addressException, objectOptions, SocketActivationError } from './errors.js';
import { checkBacklog, explainFallbackError, streamFallback, type CheckedFallback } from './fallback.js';
import { closeDuplicate, connectionSocket, duplicateForNode } from './adopt.js';
import { trackConnections } from './drain.js';
import { registerServer } from './served.js';
import { fallbackApplies } from './registry.js';
import { checkTarget, instanceConnections, isConnection, listenersNamed, meets } from './select.js';
import { isStaleSocket } from './unix-path.js';
import { warmedUp } from './warm-up.js';

/** Where to listen when the process was not socket-activated (development). */
export type StreamFallback =
  | number
  | { readonly port: number; readonly host?: string }
  | {
      readonly path: string;
      /**
       * Remove a socket file left at `path` by an earlier run that crashed, if nothing
       * accepts on it. Without this, a leftover file is an error: the package never removes a
       * file it did not create (Node removes the one it created when the server closes).
       * @default false
       */
      readonly removeStale?: boolean;
    };

/** Options for {@link listen}. */
export interface ListenOptions {
  /** Used only when the process was not socket-activated at all; never when a name is missing. */
  readonly fallback?: StreamFallback;
  /**
   * Accept queue length to listen with. Defaults to the socket's own (systemd's Backlog=, read
   * from TCP_INFO on Linux), since Node would otherwise reset it to 511; 511 where unknown.
   */
  readonly backlog?: number;
}

/** Any server built on net.Server: net, http, https, http2, tls. */
export type StreamServer = net.Server;

/** What {@link listen} did. */
export interface Listening<S extends StreamServer> {
  readonly server: S;
  /** False when the fallback was used. */
  readonly activated: boolean;
  /** The inherited descriptors served (several when fds share a name). */
  readonly descriptors: readonly Descriptor[];
  /** Local addresses served, including unix paths and abstract names (Node's `address()` is null for those). */
  readonly addresses: readonly SocketAddress[];
  /** Connections handed to the server (Accept=yes fds). */
  readonly connections: readonly net.Socket[];
}

const NODE_DEFAULT_BACKLOG = 511;

function whenListening(server: net.Server, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    start(() => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

function asStreamTargets(targets: readonly Descriptor[]): { listeners: StreamListenerDescriptor[]; connections: ConnectionDescriptor[] } {
  const listeners: StreamListenerDescriptor[] = [];
  const connections: ConnectionDescriptor[] = [];
  for (const d of targets) {
    const socket = meets(d, { kind: 'socket' }, 'listen(server)');
    if (isConnection(socket)) {
      connections.push(socket);
      continue;
    }
    const l = meets(socket, { type: 'stream', listening: true }, 'listen(server) needs a stream listener or an Accept=yes connection');
    if (l.family !== 'inet' && l.family !== 'inet6' && l.family !== 'unix') meets(l, { family: 'inet' }, 'listen(server)');
    listeners.push(l);
  }
  return { listeners, connections };
}


interface SetUpListenHandle {
  _handle?: unknown;
  _listen2(address: null, port: null, addressType: null, backlog: number, fd: number): void;
}

/**
 * Listens on this process's `fd`. In a cluster worker Node's `listen({ fd })` does not open the
 * fd: it asks the primary to listen on the primary's fd of that number (cluster's way of sharing
 * a port), which names whatever the primary has there (EEXIST, another socket, nothing). Node
 * has no option to make it exclusive, so the worker takes the path Node's own listen() takes
 * in the primary and for an exclusive listen: `_listen2` (setupListenHandle), which opens the
 * fd here and emits 'listening' or 'error' as listen() does.
 */
function listenHere(server: net.Server, fd: number, backlog: number, done: () => void): void {
  const s = server as unknown as SetUpListenHandle;
  // Already listening: listen() throws ERR_SERVER_ALREADY_LISTEN before it looks at the fd.
  if (!cluster.isWorker || s._handle || typeof s._listen2 !== 'function') {
    server.listen({ fd }, backlog, done);
    return;
  }
  server.once('listening', done);
  s._listen2(null, null, null, backlog, fd);
}

async function listenOnFd(server: net.Server, d: StreamListenerDescriptor, backlog: number): Promise<void> {
  const fd = duplicateForNode(d);
  let handedOver = false;
  try {
    // Positional backlog: Node ignores `{ backlog }` when given an fd and would use 511.
    await whenListening(server, (done) => {
      listenHere(server, fd, backlog, done);
      handedOver = true;
    });
  } catch (err) {
    // Refused before Node looked at the fd (e.g. a server already listening elsewhere): the
    // duplicate is ours to close. Failed after: Node closed it if it had adopted it, so close
    // it only if it is still open as the same socket and not the server's.
    if (!handedOver || stillOurs(server, fd, d)) closeDuplicate(fd);
    throw err;
  }
}

function stillOurs(server: net.Server, fd: number, d: Descriptor): boolean {
  return (server as { _handle?: { fd?: number } | null })._handle?.fd !== fd && isSameFile(fd, d);
}

interface CountedServer {
  _connections?: number;
}
interface CountedSocket {
  _server?: net.Server | null;
  server?: net.Server | null;
}

const kHelpers = Symbol('socket-activation.helpers');
const kStopped = Symbol('socket-activation.stopped');
interface HelperServers {
  [kHelpers]?: net.Server[];
  /** stopAccepting() ran: helpers that listen() adds afterwards are closed at once. */
  [kStopped]?: boolean;
}

/**
 * Closes the server's listening handles (its own and the helpers of a shared name) and
 * nothing else: unlike http.Server#close() in Node ≥ 19, idle keep-alive connections stay
 * open, since a request may already be on its way to them.
 * @internal
 */
export function stopAccepting(server: net.Server): void {
  for (const helper of (server as HelperServers)[kHelpers] ?? []) helper.close();
  if (server.listening) {
    net.Server.prototype.close.call(server);
    stopConnectionsCheck(server);
  }
  // Still starting (a SIGTERM during start-up; listen() with a host looks it up first): it
  // stops as soon as it listens, with the helpers of a shared name that listen() adds after
  // it. Not close() now: on a server that is not running it emits 'close' again.
  else if (!(server as HelperServers)[kStopped]) server.once('listening', () => stopAccepting(server));
  (server as HelperServers)[kStopped] = true;
}

/**
 * http.Server#close() stops the server's connections check (Node's interval that enforces
 * headersTimeout and requestTimeout, bound to the server) before closing; net.Server's close,
 * which stopAccepting() calls to leave idle connections open, leaves it running for good, and
 * with it the server and everything it holds: each drained server stayed reachable. Stopped
 * here once the last connection is gone, so the check still covers those of the drain.
 */
function stopConnectionsCheck(server: net.Server): void {
  const key = Object.getOwnPropertySymbols(server).find((k) => k.description === 'http.server.connectionsCheckingInterval');
  if (key === undefined) return;
  server.once('close', () => clearInterval((server as unknown as Record<symbol, NodeJS.Timeout | undefined>)[key]));
}

// A net.Server has one handle; further fds of a shared name get a helper server each that
// passes its connections to the user's server, and closes with it.
async function listenExtra(server: net.Server, d: StreamListenerDescriptor, backlog: number): Promise<net.Server> {
  const helper = net.createServer({ allowHalfOpen: (server as { allowHalfOpen?: boolean }).allowHalfOpen ?? false }, (socket) => {
    // Count the connection on the user's server, as if it had accepted it: net.Server's
    // close() waits for `_connections` to drain, and a socket decrements the count of its
    // `_server` when it closes. Without this, close(cb) would not wait for these requests.
    const from = helper as CountedServer;
    const to = server as CountedServer;
    if (typeof from._connections === 'number' && typeof to._connections === 'number') {
      from._connections--;
      to._connections++;
      (socket as CountedSocket)._server = server;
      (socket as CountedSocket).server = server;
    }
    server.emit('connection', socket);
  });
  await listenOnFd(helper, d, backlog);
  ((server as HelperServers)[kHelpers] ??= []).push(helper);
  if ((server as HelperServers)[kStopped]) helper.close();
  const close = server.close;
  server.close = function closeWithHelpers(this: net.Server, callback?: (err?: Error) => void) {
    helper.close();
    return close.call(this, callback);
  } as typeof server.close;
  return helper;
}

function resolveTargets(target: string | Descriptor | readonly Descriptor[]): readonly Descriptor[] {
  if (typeof target === 'string') return instanceConnections(target) ?? listenersNamed(target);
  return Array.isArray(target) ? (target as readonly Descriptor[]) : [target as Descriptor];
}

// The address as inspect() reports an inherited socket's: Node's address() has no flowinfo and
// scopeId for IPv6, so a fallback's address would not compare equal to the same address inherited.
function boundAddress(server: net.Server): SocketAddress {
  const fd = (server as { _handle?: { fd?: number } | null })._handle?.fd;
  const d = typeof fd === 'number' && fd >= 0 ? describeFd(fd) : undefined;
  if (typeof d === 'object' && d.kind === 'socket') return d.local;
  // No fd to read (Windows): the address Node reports, in the same shape.
  const a = server.address() as net.AddressInfo;
  return a.family === 'IPv6' ? { address: a.address, port: a.port, family: 'IPv6', flowinfo: 0, scopeId: 0 } : { address: a.address, port: a.port, family: 'IPv4' };
}

async function listenFallback<S extends StreamServer>(server: S, fallback: CheckedFallback, backlog: number | undefined): Promise<Listening<S>> {
  const result = (addresses: SocketAddress[]): Listening<S> => ({ server, activated: false, descriptors: [], addresses, connections: [] });
  if ('port' in fallback) {
    const { port, host } = fallback;
    await whenListening(server, (done) => server.listen({ port, host, backlog }, done)).catch((err: unknown) => {
      throw explainFallbackError(err, fallback, 'tcp');
    });
    return result([boundAddress(server)]);
  }
  const { path, removeStale } = fallback;
  // The path can be freed while it is looked at (the process serving it closes and removes its
  // socket): then it is listened on again, once.
  for (let attempt = 1; ; attempt++) {
    try {
      await whenListening(server, (done) => server.listen({ path, backlog }, done));
      break;
    } catch (err) {
      // libuv reports a missing directory as EACCES (as Windows would), which sends root looking for permissions.
      if ((err as NodeJS.ErrnoException).code === 'EACCES' && !path.startsWith('\0') && !existsSync(dirname(path))) {
        throw addressException(-constants.errno.ENOENT, 'listen', path, `the directory ${printable(dirname(path))} of the fallback path does not exist: create it first`);
      }
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || path.startsWith('\0')) throw err;
      const stale = await isStaleSocket(path);
      if (stale && removeStale) {
        removeIfThere(path);
        await whenListening(server, (done) => server.listen({ path, backlog }, done));
        break;
      }
      const file = stale ? 'socket' : fileKind(path);
      if (file === undefined && attempt === 1) continue;
      throw new SocketActivationError(
        'ERR_FALLBACK_PATH_IN_USE',
        stale
          ? `Fallback path ${printable(path)} holds a socket file that nothing accepts on (left by an earlier run?). Remove it, or pass fallback { path, removeStale: true }.`
          : `Fallback path ${printable(path)} is in use: ${file === 'other' ? 'it is not a socket file' : 'another process is accepting on it'}. Choose another path.`,
        { path },
      );
    }
  }
  return result([unixAddress(Buffer.from(path))]);
}

/** Whether `path` is a socket file, another file, or (undefined) not there. */
function fileKind(path: string): 'socket' | 'other' | undefined {
  try {
    return lstatSync(path).isSocket() ? 'socket' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// A stale socket another process removed first is as good as removed here.
function removeIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}


/**
 * Makes a net/http/https/http2/tls server serve an inherited listener: every fd with that
 * name (or the given descriptors). Each fd is validated natively first, then Node gets a
 * close-on-exec duplicate, listening with the socket's own backlog. Accept=yes connection
 * fds are handed to the server as connections instead; an Accept=yes instance, which inherits
 * nothing but connections, has them served whatever the name asked for (systemd names them
 * "connection"). When the process was not activated
 * at all and `fallback` is given, the server binds that address itself.
 *
 * @throws (rejects) ERR_NOT_ACTIVATED, ERR_LISTENER_NOT_FOUND, ERR_LISTENER_MISMATCH (a UDP
 * fd, a FIFO, …), ERR_FD_CHANGED, ERR_INVALID_ARGUMENT (not a server; a listener that is
 * neither a name nor a descriptor, such as an fd number; a fallback or backlog of the wrong
 * kind, checked even when unused), ERR_FALLBACK_PATH_IN_USE, ENOENT (the fallback path's
 * directory does not exist), or Node's own listen error (for a fallback address in use, not of
 * this machine or below 1024 without the right, its message says so and what to do).
 * @example
 * ```ts
 * const server = http.createServer(app);
 * const { addresses } = await listen(server, 'web', { fallback: 8080 });
 * ```
 */
export async function listen<S extends StreamServer>(
  server: S,
  target: string | Descriptor | readonly Descriptor[],
  options: ListenOptions | null = {},
): Promise<Listening<S>> {
  if (!(server instanceof net.Server)) {
    const found = server === null ? 'null' : typeof server === 'object' ? ((server as object).constructor?.name ?? 'an object') : String(server);
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `listen(): the server must be a net.Server (http, https, http2, tls or net); found ${found}.`, {
      argument: 'server',
      expected: 'net.Server',
      found,
    });
  }
  checkTarget('listen(server, listener)', target, true);
  options = objectOptions('listen()', options);
  checkBacklog('listen()', options.backlog);
  const fallback = options.fallback === undefined ? undefined : streamFallback('listen()', options.fallback);
  trackConnections(server);
  if (typeof target === 'string' && fallback !== undefined && fallbackApplies()) {
    return listenFallback(server, fallback, options.backlog);
  }
  const targets = resolveTargets(target);
  const { listeners, connections } = asStreamTargets(targets);
  registerServer(listeners, server);
  // A process taking over from another accepts once its request path is warm (warm-up.ts).
  await warmedUp();
  for (const l of listeners) {
    const backlog = options.backlog ?? l.backlog ?? NODE_DEFAULT_BACKLOG;
    if (l === listeners[0]) await listenOnFd(server, l, backlog);
    else await listenExtra(server, l, backlog);
  }
  const allowHalfOpen = (server as { allowHalfOpen?: boolean }).allowHalfOpen ?? false;
  const sockets = connections.map((c) => connectionSocket(c, allowHalfOpen));
  for (const socket of sockets) server.emit('connection', socket);
  return {
    server,
    activated: true,
    descriptors: targets,
    addresses: listeners.map((l) => l.local),
    connections: sockets,
  };
}
