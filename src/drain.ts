import type http from 'node:http';
import type http2 from 'node:http2';
import net from 'node:net';
import { constants } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type tls from 'node:tls';
import { now } from './clock.js';
import { SocketActivationError } from './errors.js';
import { isTimerMs, TIMER_MS_EXPECTED } from './milliseconds.js';
import { keepConnection } from './kept-connections.js';
import { stopAccepting } from './listen.js';
import { extendTimeout, notify } from './notify.js';
import { successorServing } from './successor-serving.js';
import { predecessorHandingOver } from './successor.js';

/**
 * Where idle keep-alive connections go when a server drains. Only plain HTTP/1 connections move:
 * TLS connections (https) and HTTP/2 sessions are drained by protocol (`Connection: close`,
 * GOAWAY), and a plain net server's connections by `closeConnection`.
 */
export type HandOff =
  /**
   * Nowhere: they are closed when their advertised keep-alive timeout runs out (or at `timeout`);
   * where none is advertised (`keepAliveTimeout` 0, HTTP/1.1 on an HTTP/2 server), at once.
   */
  | 'none'
  /**
   * The service manager's fd store (FileDescriptorStoreMax= must leave room): the next process
   * takes them with `keptConnections()`. Where `$FDSTORE` announces the store's size, those
   * that would not fit stay and end by protocol (see `keepConnection()`).
   */
  | 'fd-store'
  /**
   * Your own transport (e.g. to a successor): resolve `true` once the socket is given away (it
   * may destroy this process's copy before). The drain waits for the answer until its timeout,
   * when a connection still being decided about is cut.
   */
  | ((socket: net.Socket) => Promise<boolean>);

/** Options for {@link drain}. */
export interface DrainOptions {
  /**
   * Milliseconds to wait for in-flight requests before cutting the remaining connections.
   * With `notify` (the default) the manager is asked to wait that long plus 5 s; with
   * `notify: false`, keep it below the unit's TimeoutStopSec=.
   * @default 10000
   */
  readonly timeout?: number;
  /** @default 'none' */
  readonly handOff?: HandOff;
  /**
   * Send STOPPING=1 (with `STATUS=stopping: draining connections (at most N s)`, shown by
   * `systemctl status`) and EXTEND_TIMEOUT_USEC= (the drain timeout plus 5 s) to the service
   * manager first, so systemd waits for the drain instead of killing at TimeoutStopSec=.
   * @default true
   */
  readonly notify?: boolean;
  /**
   * Called once per open connection that only your protocol can end gracefully: each of a plain
   * net server's, and an HTTP server's upgraded (WebSocket) and CONNECT connections (of a server
   * tracked before they were upgraded: see {@link trackConnections}). Those still open at
   * `timeout` are cut.
   */
  readonly closeConnection?: (socket: net.Socket) => void;
  /**
   * Milliseconds during which HTTP/1 keep-alive connections that are idle at the start stay
   * here when a hand-off target is set: a request that arrives on one meanwhile is answered here
   * (keep-alive), and the connection is handed off right after that response, when its client
   * is least likely to be sending; those still idle are handed off when the time runs out. For
   * hand-overs where the next process already serves (a hot upgrade, a supervisor reload): no
   * request then waits for its connection to move, unless its client sends again within the
   * transfer. Not for restarts, where the next process starts only once this one has exited.
   * @default 1000 when the `socket-activation` supervisor has told this process that its
   * successor serves (a reload), else 0; at most half of `timeout`
   */
  readonly linger?: number;
}

/** What {@link drain} did. Every connection open at the start ends up in exactly one count. */
export interface DrainReport {
  /** Requests that were in progress or arrived during the drain and were answered. */
  readonly requestsFinished: number;
  /** Connections closed by protocol: `Connection: close` after a response, GOAWAY, keep-alive expiry, or the client. */
  readonly closed: number;
  /** Idle keep-alive connections given to the hand-off target. */
  readonly handedOff: number;
  /** Connections destroyed when the timeout ran out (their requests, if any, failed). */
  readonly cut: number;
  /** How long the drain took, in whole milliseconds, measured on the monotonic clock: a step of the wall clock (NTP, `date -s`) during it changes nothing. */
  readonly durationMs: number;
}

interface Connection {
  readonly socket: net.Socket;
  /** Requests received and not yet answered. */
  active: number;
  /** socket.bytesRead when the last response finished: more means a request is arriving. */
  bytesAtIdle: number;
  /** Responses not finished yet (their headers may still be changed). */
  readonly pending: Set<http.ServerResponse>;
  /** A response went out with Connection: close: Node ends the connection itself. */
  closing: boolean;
  /** 'open' until its fate during a drain is known. */
  fate: 'open' | 'handing-off' | 'kept-here' | 'handed-off' | 'closed' | 'cut';
  /**
   * Set while a drain lingers (see {@link DrainOptions.linger}) for a connection idle when it
   * began: its `bytesAtIdle` then. Requests on it are answered with keep-alive; once
   * `bytesAtIdle` differs, a response here has finished since, and the connection can go.
   */
  lingeringFrom: number | undefined;
  /**
   * Met by drain() with a response in progress (an untracked server) and requests read after
   * it: Node holds their responses behind it, which no event shows. None of them can be told
   * Connection: close without dropping the rest, so each is followed as it becomes the one in
   * progress, and the connection ends as an idle one once they are all out.
   */
  queueUnseen?: boolean;
  /** A response on it has finished (or, found open, it had read bytes): it is not a fresh one. */
  answered: boolean;
  /** closeConnection() was called for it (once is enough). */
  closeAsked?: boolean;
  /** It closed while a hand-off was deciding (give()), which then counts it. */
  closedWhileHandingOff?: boolean;
}

interface Counts {
  closed: number;
  handedOff: number;
  cut: number;
  requestsFinished: number;
}

type Server = net.Server | http.Server | http2.Http2Server | http2.Http2SecureServer;

const kTracker = Symbol.for('socket-activation.connection-tracker');

// How long an HTTP/2 session with no stream yet is given to send its first request once a drain
// has begun: a client that connected just before sends it within a round trip; one that only
// preconnected is told GOAWAY after this.
const FIRST_REQUEST_GRACE = 1000;

// Responses a drain set to Connection: close (see Tracker.closeAfterLast).
const markedClose = new WeakSet<http.ServerResponse>();

class Tracker {
  readonly connections = new Map<net.Socket, Connection>();
  readonly sessions = new Set<http2.ServerHttp2Session>();
  /** HTTP/2 sessions that have had a stream. */
  readonly streamed = new WeakSet<http2.ServerHttp2Session>();
  /** Each session's streams not closed yet, to reset them at the timeout (Node lists them nowhere public). */
  readonly streams = new WeakMap<http2.ServerHttp2Session, Set<http2.ServerHttp2Stream>>();
  /** TLS servers: raw connections still in their handshake (a request is on its way). */
  readonly handshaking = new Set<net.Socket>();
  draining: ((c: Connection) => void) | undefined;
  /** The drain in progress, which a second drain() joins. */
  drain: Promise<DrainReport> | undefined;
  /** Called during a drain whenever a connection or session goes away. */
  onGone: (() => void) | undefined;
  counts: Counts = { closed: 0, handedOff: 0, cut: 0, requestsFinished: 0 };
  /**
   * An HTTP/1 server drain() met first: its connections still in their TLS handshake then, and
   * those upgraded (WebSocket) or given to CONNECT, are in no list Node keeps, so they are known
   * only by the server's count of connections: waited for, and counted cut if still open at the
   * timeout (out of reach, they end with the process).
   */
  countsUnseen = false;

  constructor(readonly server: Server) {
    // TLS servers report the raw socket ('connection') and then the TLS one that requests use.
    const secure = 'setSecureContext' in server;
    if (secure) {
      // Until its handshake ends a connection has no TLS socket to track, but its client has
      // a request to send: a drain waits for it (or cuts it at the timeout) rather than exit
      // under it.
      server.on('connection', (raw: net.Socket) => {
        this.handshaking.add(raw);
        raw.once('close', () => {
          if (!this.handshaking.delete(raw)) return;
          if (this.draining) this.counts.closed++; // the client left before its handshake ended
          this.onGone?.();
        });
      });
    }
    server.on(secure ? 'secureConnection' : 'connection', (socket: net.Socket) => {
      // Node's TLS socket keeps the raw one as _parent (18.18 to 26); without it the raw one
      // stays listed until it closes, with its TLS socket.
      const raw = secure && (socket as net.Socket & { _parent?: net.Socket })._parent;
      if (raw) this.handshaking.delete(raw);
      this.add(socket);
    });
    if (isHttp1(server)) this.addOpen(server);
    server.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      const open = new Set<http2.ServerHttp2Stream>();
      this.streams.set(session, open);
      session.on('stream', (stream: http2.ServerHttp2Stream) => {
        this.streamed.add(session);
        open.add(stream);
        stream.once('close', () => open.delete(stream));
      });
      session.once('close', () => {
        this.sessions.delete(session);
        this.onGone?.();
      });
      if (this.draining) this.closeSession(session);
    });
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      if ((req as { httpVersionMajor?: number }).httpVersionMajor === 2) {
        // Counted if a drain runs when it finishes: it may have begun before. An HTTP/2 response
        // also says 'finish' when its stream was reset or destroyed unanswered.
        res.once('finish', () => {
          const { stream } = res as unknown as http2.Http2ServerResponse;
          if (this.draining && !stream.aborted) this.counts.requestsFinished++;
        });
        return;
      }
      const c = this.connections.get(req.socket);
      if (c) this.request(c, res);
    };
    // First in line, so Connection: close is set before a synchronous handler sends headers.
    server.prependListener('request', onRequest);
    // A request with Expect: goes to these instead of 'request' when the application listens
    // for them. Listened to only while the application does: a listener makes Node skip its
    // own automatic 100 Continue.
    for (const event of ['checkContinue', 'checkExpectation']) followWhileListened(server, event, onRequest);
    // A connection switched to another protocol during a drain is one only the application can
    // end (closeConnection). Listened to only while the application does: without a listener
    // Node treats an Upgrade: request as a plain one and destroys a CONNECT.
    const onSwitch = (req: http.IncomingMessage, socket: net.Socket): void => {
      const c = this.connections.get(socket);
      // After the application's listener: Node has detached its parser by then.
      if (c) queueMicrotask(() => this.draining?.(c));
    };
    for (const event of ['upgrade', 'connect']) followWhileListened(server, event, onSwitch);
  }

  /**
   * GOAWAY, which names the last stream this side took: one accepted just before the drain
   * whose client has not sent its first request yet would have it refused (REFUSED_STREAM), as
   * the HTTP/1 equivalent is not. So such a session waits for its first stream, for a moment.
   */
  closeSession(session: http2.ServerHttp2Session): void {
    if (this.streamed.has(session)) {
      session.close();
      return;
    }
    const timer = setTimeout(() => session.close(), FIRST_REQUEST_GRACE);
    session.once('stream', () => {
      clearTimeout(timer);
      // After the rest of that read: a browser sends its first requests together, and GOAWAY
      // names the last stream taken so far.
      setImmediate(() => session.close());
    });
    session.once('close', () => clearTimeout(timer));
  }

  /**
   * Connection: close on the last response the connection owes, while its headers are still to
   * be sent. Node writes pipelined responses in order and closes the connection after the first
   * one that says close, so marking an earlier one would drop the requests received after it.
   */
  closeAfterLast(c: Connection): void {
    if (c.queueUnseen) return;
    const pending = [...c.pending];
    const last = pending[pending.length - 1];
    for (const res of pending) {
      if (res !== last && !res.headersSent && markedClose.delete(res)) res.shouldKeepAlive = true;
    }
    if (last && !last.headersSent && last.shouldKeepAlive) {
      last.shouldKeepAlive = false;
      markedClose.add(last);
    }
  }

  /** A response the connection owes: until it ends, the connection is busy. */
  request(c: Connection, res: http.ServerResponse): void {
    c.active++;
    c.pending.add(res);
    if (this.draining && c.lingeringFrom === undefined) this.closeAfterLast(c);
    const done = (): void => {
      c.active--;
      c.answered = true;
      c.pending.delete(res);
      if (!res.shouldKeepAlive) c.closing = true;
      c.bytesAtIdle = c.socket.bytesRead;
      // Node gave the socket to the next queued response when this one finished (its own
      // 'finish' listener runs first).
      const next = c.queueUnseen ? inProgress(c.socket) : undefined;
      if (next && next !== res && !c.pending.has(next)) this.request(c, next);
      // The queue is out: a later request is seen as it comes, and told Connection: close.
      else if (c.queueUnseen && c.pending.size === 0) c.queueUnseen = false;
      if (this.draining) {
        if (res.writableFinished) this.counts.requestsFinished++;
        this.draining(c);
      }
    };
    res.once('finish', done);
    res.once('close', () => {
      if (!res.writableFinished) done();
    });
  }

  /**
   * The connections an HTTP/1 server had before it was tracked (a server that `drain()` meets
   * first), from the list Node keeps of them for its own timeouts and `closeIdleConnections()`
   * (every supported version has it). Node's `active()` ones are reading a request: never idle
   * until it is answered. A response in progress is the one Node is writing.
   */
  addOpen(server: Server): void {
    type Parser = { socket?: net.Socket };
    type List = { all(): Parser[]; active(): Parser[] };
    const key = Object.getOwnPropertySymbols(server).find((k) => k.description === 'http.server.connections');
    const list = key && (server as unknown as Record<symbol, List | undefined>)[key];
    if (typeof list?.all !== 'function' || typeof list.active !== 'function') return;
    const reading = new Set(list.active().map((p) => p.socket));
    for (const { socket } of list.all()) {
      if (!socket || socket.destroyed || this.connections.has(socket)) continue;
      this.add(socket);
      const c = this.connections.get(socket)!;
      if (reading.has(socket)) c.bytesAtIdle = -1;
      const res = inProgress(socket);
      if (res) {
        // The parser's latest request is another one: pipelined requests were read after it.
        const latest = (socket as net.Socket & { parser?: { incoming?: unknown } | null }).parser?.incoming;
        if (latest && latest !== (res as http.ServerResponse & { req?: unknown }).req) c.queueUnseen = true;
        this.request(c, res);
      }
    }
  }

  add(socket: net.Socket): void {
    if (this.connections.has(socket)) return;
    const c: Connection = { socket, active: 0, bytesAtIdle: socket.bytesRead, pending: new Set(), closing: false, fate: 'open', lingeringFrom: undefined, answered: socket.bytesRead > 0 };
    this.connections.set(socket, c);
    socket.once('close', () => {
      // A hand-off deciding about it counts it when it settles (give()): its transport may
      // destroy the socket once it is sent, or its client may have left.
      if (c.fate === 'handing-off') {
        c.closedWhileHandingOff = true;
        return;
      }
      this.connections.delete(socket);
      if (this.draining && (c.fate === 'open' || c.fate === 'kept-here')) this.counts.closed++;
      this.onGone?.();
    });
    if (this.draining) this.draining(c);
  }
}

/**
 * Keeps `ours` first among the listeners of `event` while the application has any, and none
 * while it has none: for events whose mere listener changes what Node does.
 */
function followWhileListened(server: Server, event: string, ours: (...args: any[]) => void): void {
  const follow = (): void => {
    const listeners = server.listeners(event);
    const others = listeners.filter((l) => l !== ours).length;
    if (others > 0 && !listeners.includes(ours)) server.prependListener(event, ours);
    else if (others === 0 && listeners.includes(ours)) server.removeListener(event, ours);
  };
  follow();
  // 'newListener' comes before the listener is added, 'removeListener' after it is gone.
  server.on('newListener', (name: string | symbol) => name === event && queueMicrotask(follow));
  server.on('removeListener', (name: string | symbol) => name === event && follow());
}

/** The response Node is writing on `socket` (the first of any pipelined ones), if unfinished. */
function inProgress(socket: net.Socket): http.ServerResponse | undefined {
  const res = (socket as net.Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
  return res && !res.writableFinished ? res : undefined;
}

/**
 * Starts tracking a server's connections and requests, which {@link drain} needs to tell idle
 * keep-alive connections from busy ones. `listen()` does it for every server it sets up; call it
 * yourself for servers started otherwise, before they accept.
 */
export function trackConnections(server: Server): void {
  if (!(server instanceof net.Server)) throw invalid('server', 'a net.Server (http, https, http2, tls or net)', notAServer(server), 'trackConnections()');
  const s = server as Server & { [kTracker]?: Tracker };
  s[kTracker] ??= new Tracker(server);
}

// A net or HTTP/2 server met first by drain(): Node keeps no list of its connections (HTTP/1
// servers are picked up from Node's, see Tracker.addOpen), so drain() could neither wait for
// nor end the ones it already has.
function trackerOf(server: Server): Tracker {
  const s = server as Server & { [kTracker]?: Tracker; _connections?: number };
  if (!s[kTracker] && !isHttp1(server) && (s._connections ?? 0) > 0) {
    throw new SocketActivationError(
      'ERR_NOT_TRACKED',
      `drain() cannot see the ${s._connections} open connection(s) of this ${'setSecureContext' in server ? 'TLS ' : ''}server: they were accepted before its connections were tracked. ` +
        'Call trackConnections(server) before it starts accepting (listen() of this package does it).',
      { expected: 'trackConnections(server) before accepting', found: `${s._connections} untracked connection(s)` },
    );
  }
  const fresh = !s[kTracker];
  trackConnections(server);
  const tracker = s[kTracker]!;
  // Node's list leaves out HTTP/1 connections still in their TLS handshake and those given to an
  // 'upgrade' or 'connect' listener.
  if (fresh && isHttp1(server) && unseenConnections(tracker) > 0) tracker.countsUnseen = true;
  return tracker;
}

/** Settles once the tracker has no connection, session or handshake left (checked at once and at each onGone()). */
function allGone(tracker: Tracker, unseen: () => number): Promise<void> {
  return new Promise((resolve) => {
    tracker.onGone = () => {
      if (tracker.connections.size === 0 && tracker.sessions.size === 0 && tracker.handshaking.size === 0 && unseen() === 0) resolve();
    };
    tracker.onGone();
  });
}

/** Connections the server counts that the tracker does not know (see Tracker.countsUnseen). */
function unseenConnections(tracker: Tracker): number {
  const counted = (tracker.server as { _connections?: number })._connections ?? 0;
  return Math.max(0, counted - tracker.connections.size - tracker.handshaking.size);
}

// Servers a drain has begun on, for good: it stopped their accepting, and hotUpgrade() must not
// start a successor from a process on its way out (see stopBegun()).
const drained = new WeakSet<Server>();
let stopSignalled = false;

/**
 * Whether this process is stopping: a drain has begun on one of `servers`, or
 * {@link drainOnSignal}'s signal has come. @internal
 */
export function stopBegun(servers: readonly Server[]): boolean {
  return stopSignalled || servers.some((s) => drained.has(s));
}

/**
 * Ends a session at the timeout. Its open streams are reset first (RST_STREAM): a session that
 * merely ends leaves a client that reads a stream ended by the connection's end (Node's does)
 * with a truncated body it takes for whole. The reset says INTERNAL_ERROR (destroy() with an
 * error), not CANCEL, which would fit better: Node's client takes a CANCEL for a normal end,
 * the same truncated body taken for whole. The session goes once the resets are written.
 */
function cutSession(session: http2.ServerHttp2Session, streams: ReadonlySet<http2.ServerHttp2Stream> | undefined): void {
  for (const stream of streams ?? []) {
    // The error is ours, made to reset the stream; its 'error' event has no one else to tell.
    stream.once('error', () => undefined);
    stream.destroy(new Error('drain(): cut at the timeout'));
  }
  setImmediate(() => session.destroy());
}

/**
 * The linger of a drain whose next process already serves: long enough for most clients that
 * pause between requests to send one more, which is answered here; short enough not to keep
 * this process for long. @internal
 */
export const DEFAULT_LINGER = 1000;

/** @internal */
export function checkMs(name: string, ms: unknown, what = 'drain'): number {
  if (!isTimerMs(ms)) throw invalid(name, TIMER_MS_EXPECTED, ms, what);
  return ms;
}

/** What was given where a server was expected, for {@link invalid}: an object by its class. @internal */
export function notAServer(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? (value.constructor?.name ?? 'an object') : value;
}

/** @internal */
export function invalid(what: string, expected: string, found: unknown, fn = 'drain'): SocketActivationError {
  const shown = typeof found === 'string' ? JSON.stringify(found) : typeof found === 'function' ? 'a function' : String(found);
  return new SocketActivationError('ERR_INVALID_ARGUMENT', `${fn} ${what} must be ${expected}, found ${shown}.`, { argument: what, expected, found });
}

function checkOptions(server: unknown, options: DrainOptions): DrainOptions {
  if (!(server instanceof net.Server)) throw invalid('server', 'a net.Server (http, https, http2 or net)', notAServer(server));
  return checkDrainOptions(options);
}

function checkDrainOptions(options: DrainOptions, fn = 'drain'): DrainOptions {
  if (typeof options !== 'object') throw invalid('options', 'an object', options, fn);
  const { handOff, closeConnection, notify } = options;
  if (handOff !== undefined && handOff !== 'none' && handOff !== 'fd-store' && typeof handOff !== 'function') {
    throw invalid('handOff', "'none', 'fd-store' or a function", handOff, fn);
  }
  if (closeConnection !== undefined && typeof closeConnection !== 'function') throw invalid('closeConnection', 'a function', closeConnection, fn);
  if (notify !== undefined && typeof notify !== 'boolean') throw invalid('notify', 'a boolean', notify, fn);
  return options;
}

function isHttp1(server: Server): boolean {
  return typeof (server as http.Server).keepAliveTimeout === 'number';
}

/**
 * Drains a server for shutdown or hand-over, without the keep-alive race of `server.close()`:
 * stops accepting on this process's copy of the listener (the service manager keeps its own, so
 * new connections wait for the next process), answers in-flight requests with
 * `Connection: close` (HTTP/2: GOAWAY), and does not close an idle keep-alive connection while a
 * request may be on its way: idle ones are handed off (see {@link HandOff}) or left to expire at
 * the keep-alive timeout the server advertised (closed at once where none is, since nothing
 * else would end them before the timeout). A connection is handed off only when no request
 * is in progress and no byte was read since its last response (Node's parser may hold a
 * pipelined request); otherwise its next request is answered with `Connection: close`. When
 * the next process already serves, idle connections may first linger here (see
 * {@link DrainOptions.linger}). A TLS connection still in its handshake is waited for: its
 * request is answered with `Connection: close`. At `timeout` the rest is cut. Resolves when
 * the server has no connection left; in a hot upgrade's successor, also not before the process
 * before it has finished handing it idle connections (those coming meanwhile are drained too).
 * A call while the server is draining joins that drain (its options stay).
 *
 * @throws (rejects) ERR_INVALID_ARGUMENT for a bad argument (not a server, a bad timeout,
 * linger or handOff); ERR_NOT_TRACKED for a net or HTTP/2 server with connections accepted
 * before {@link trackConnections} (HTTP/1 servers need no call: their open connections are found).
 */
export async function drain(server: Server, options: DrainOptions | null = {}): Promise<DrainReport> {
  options = checkOptions(server, options ?? {});
  const timeout = checkMs('timeout', options.timeout ?? 10_000);
  const linger = Math.min(checkMs('linger', options.linger ?? (successorServing() ? DEFAULT_LINGER : 0)), timeout / 2);
  const tracker = trackerOf(server);
  drained.add(server);
  // E.g. systemd's SIGTERM to every process of the unit while a hot upgrade's drain runs here:
  // a second drain would take over the connections the first one is deciding about.
  tracker.drain ??= drainTracked(tracker, timeout, linger, options).finally(() => (tracker.drain = undefined));
  return tracker.drain;
}

async function drainTracked(tracker: Tracker, timeout: number, linger: number, options: DrainOptions): Promise<DrainReport> {
  const { server } = tracker;
  const started = now();
  const handOff = options.handOff ?? 'none';
  const http1 = isHttp1(server);
  const movable = http1 && handOff !== 'none';
  // An HTTP/2 server with allowHTTP1 serves HTTP/1.1 on the TLS connections that did not
  // negotiate h2: those are drained as HTTP/1 (its sessions by GOAWAY).
  const http2Server = typeof (server as { updateSettings?: unknown }).updateSettings === 'function';
  // Node's HTTP/1 code arms the keep-alive timer from the server's keepAliveTimeout, which an
  // HTTP/2 server lacks unless the application sets it.
  const keepAliveTimeout = (server as { keepAliveTimeout?: unknown }).keepAliveTimeout;
  const keepAliveExpires = typeof keepAliveTimeout === 'number' && keepAliveTimeout > 0;
  const counts: Counts = { closed: 0, handedOff: 0, cut: 0, requestsFinished: 0 };
  tracker.counts = counts;
  const failedHandOffs: string[] = [];

  if (options.notify !== false) {
    // Else `systemctl status` shows what the service said while it served ("serving") all
    // through a drain that may take `timeout`.
    await Promise.allSettled([notify({ STOPPING: true, STATUS: `stopping: draining connections (at most ${timeout / 1000} s)` }), extendTimeout(timeout + 5_000)]);
  }

  const give = async (c: Connection): Promise<void> => {
    c.fate = 'handing-off';
    const idle = (): boolean => c.active === 0 && c.socket.bytesRead === c.bytesAtIdle;
    let gone = false;
    try {
      // Only true means it went: anything else leaves it here, where it still is.
      gone = (typeof handOff === 'function' ? idle() && (await handOff(c.socket)) : await keepConnection(c.socket, { idle })) === true;
    } catch (err) {
      // Said once, when the drain ends: out of fds, every connection fails alike.
      failedHandOffs.push(err instanceof Error ? err.message : String(err));
    }
    if (c.fate !== 'handing-off') return; // cut at the timeout meanwhile, and counted then
    if (gone || c.closedWhileHandingOff) {
      c.fate = gone ? 'handed-off' : 'closed';
      if (gone) counts.handedOff++;
      else counts.closed++; // its client left before it could move
      // A socket sent over IPC keeps its JS object but loses its handle and never emits
      // 'close': forget it here.
      tracker.connections.delete(c.socket);
      tracker.onGone?.();
      return;
    }
    // Refused or no taker: it stays here and ends by protocol (see visit()).
    c.fate = 'kept-here';
    visit(c);
  };

  // Decides what to do with one connection now; called again whenever its state changes.
  const visit = (c: Connection): void => {
    if (c.fate === 'handing-off' || c.fate === 'handed-off' || c.socket.destroyed) return;
    const alpn = (c.socket as tls.TLSSocket).alpnProtocol; // undefined on a plain socket
    // Node detaches its HTTP parser from a connection it gives to an 'upgrade' (WebSocket) or
    // 'connect' listener: the application speaks another protocol on it, which only it can end.
    const upgraded = (c.socket as net.Socket & { parser?: unknown }).parser === null;
    if (upgraded || (!http1 && !(http2Server && (alpn === 'http/1.1' || alpn === false)))) {
      if (!c.closeAsked) options.closeConnection?.(c.socket);
      c.closeAsked = true;
      return;
    }
    if (c.closing) return; // Node ends it after the response that said Connection: close
    if (c.lingeringFrom !== undefined) {
      if (c.active === 0 && c.socket.bytesRead === c.bytesAtIdle && c.bytesAtIdle !== c.lingeringFrom) {
        c.lingeringFrom = undefined;
        void give(c);
      }
      return;
    }
    if (c.active > 0) {
      // Its last response goes out with Connection: close (if it has not started yet).
      tracker.closeAfterLast(c);
      return;
    }
    if (c.socket.bytesRead !== c.bytesAtIdle) return; // a request is arriving: it gets Connection: close
    if (movable && c.fate === 'open' && !(c.socket as tls.TLSSocket).encrypted) {
      void give(c);
      return;
    }
    // Otherwise the server's keep-alive timer (advertised to the client in the Keep-Alive
    // header) closes it: the one moment the client does not expect to reuse it. Without one
    // (HTTP/1.1 on an HTTP/2 server, whose responses advertise none, or keepAliveTimeout 0)
    // nothing would end it before the timeout, and a cut then is the same close, only later:
    // close it now, as Go's Shutdown() and Node's closeIdleConnections() do.
    // One that has not had its first request yet is left alone: its client is about to send it.
    if (!keepAliveExpires && c.answered) c.socket.end();
  };

  // Done when no connection or session is left. Not the server's 'close' event: a socket sent
  // to another process over IPC never tells the server it is gone.
  const unseen = (): number => (tracker.countsUnseen ? unseenConnections(tracker) : 0);
  const finished = allGone(tracker, unseen);
  // Those connections tell nothing when they close (a finished handshake is tracked from then on).
  const watchUnseen = tracker.countsUnseen ? setInterval(() => tracker.onGone?.(), 20) : undefined;
  stopAccepting(server);
  let lingerTimer: NodeJS.Timeout | undefined;
  if (linger > 0 && http1 && movable) {
    for (const c of tracker.connections.values()) {
      if (c.active === 0 && !c.closing && c.socket.bytesRead === c.bytesAtIdle && !(c.socket as tls.TLSSocket).encrypted) c.lingeringFrom = c.bytesAtIdle;
    }
    lingerTimer = setTimeout(() => {
      for (const c of tracker.connections.values()) {
        if (c.lingeringFrom === undefined) continue;
        c.lingeringFrom = undefined;
        visit(c);
      }
    }, linger);
  }
  tracker.draining = visit;
  for (const c of tracker.connections.values()) visit(c);
  for (const session of tracker.sessions) tracker.closeSession(session);
  tracker.onGone?.();

  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve();
    }, timeout);
  });
  await Promise.race([finished, expired]);
  // A hot upgrade's successor stopping while its predecessor still drains (a restart right after
  // the upgrade): the predecessor goes on handing it idle connections until its own drain is
  // over, and one that came after this drain had ended would be closed by this process's exit,
  // under any request its client had sent. So this drain lasts until the predecessor has closed
  // the channel, draining what comes meanwhile like any connection of its own.
  for (let handing = predecessorHandingOver(); handing && !timedOut; handing = predecessorHandingOver()) {
    await Promise.race([handing, expired]);
    if (!timedOut) await Promise.race([allGone(tracker, unseen), expired]);
  }
  clearTimeout(timer);
  clearTimeout(lingerTimer);
  clearInterval(watchUnseen);
  // Still in their handshake at the timeout, out of reach: left to end with the process.
  counts.cut += unseen();
  tracker.countsUnseen = false;
  if (tracker.connections.size > 0 || tracker.sessions.size > 0 || tracker.handshaking.size > 0) {
    for (const session of tracker.sessions) cutSession(session, tracker.streams.get(session));
    // A session's connection is among these: destroyed now, it would take the resets with it.
    if (tracker.sessions.size > 0) await nextTurn();
    for (const c of [...tracker.connections.values()]) {
      const deciding = c.fate === 'handing-off';
      if (c.socket.destroyed && !deciding) continue; // its 'close' is on its way and counts it
      c.fate = 'cut';
      counts.cut++;
      c.socket.destroy();
      // Whatever a hand-off still deciding says later changes nothing, and its 'close' may
      // already have come (see add()).
      if (deciding) tracker.connections.delete(c.socket);
    }
    for (const raw of tracker.handshaking) {
      counts.cut++;
      raw.destroy();
    }
    tracker.handshaking.clear();
    tracker.onGone?.();
    await allGone(tracker, unseen);
  }
  tracker.draining = undefined;
  tracker.onGone = undefined;
  if (failedHandOffs.length > 0) {
    const n = failedHandOffs.length;
    const others = new Set(failedHandOffs).size - 1;
    process.emitWarning(
      `drain: the hand-off of ${n === 1 ? 'a connection' : `${n} connections`} failed (${failedHandOffs[0]}${others > 0 ? `, and ${others} other error${others === 1 ? '' : 's'}` : ''}); ${n === 1 ? 'it is' : 'they are'} closed here instead`,
      'SocketActivationWarning',
    );
    // Node prints a warning on a later tick; drainOnSignal() and a hot upgrade exit as soon as
    // the drain settles, which would lose it.
    await nextTurn();
  }
  return { ...counts, durationMs: Math.round(now() - started) };
}

/** Options for {@link drainOnSignal}. */
export interface DrainOnSignalOptions extends DrainOptions {
  /** @default 'SIGTERM' */
  readonly signal?: NodeJS.Signals;
  /** Exit when every server has drained (status 0). @default true */
  readonly exit?: boolean;
  /** Called with the reports (one per server) before exiting. */
  readonly onDrained?: (reports: DrainReport[]) => void;
}

/**
 * One call for the usual case: on SIGTERM (once), drain every server, then exit. Apps that
 * handle signals themselves call {@link drain} from their own handler instead.
 *
 * @throws ERR_INVALID_ARGUMENT for a server that is not a net.Server or an option of the wrong
 * kind (drain()'s included), at the call: found only at the signal, it would end the process
 * there undrained, or (a misspelt signal) leave the signal's default action to kill it.
 */
export function drainOnSignal(servers: Server | readonly Server[], options: DrainOnSignalOptions | null = {}): void {
  const fn = 'drainOnSignal()';
  const list = Array.isArray(servers) ? (servers as readonly Server[]) : [servers as Server];
  const at = list.findIndex((s) => !(s instanceof net.Server));
  if (at >= 0) throw invalid('servers', 'a net.Server (http, https, http2, tls or net) or an array of them', notAServer(list[at]), fn);
  options = checkDrainOptions(options ?? {}, fn) as DrainOnSignalOptions;
  const { signal, exit, onDrained } = options;
  if (signal !== undefined && !(typeof signal === 'string' && signal in constants.signals)) throw invalid('signal', 'a signal name such as SIGTERM', signal, fn);
  if (exit !== undefined && typeof exit !== 'boolean') throw invalid('exit', 'true or false', exit, fn);
  if (onDrained !== undefined && typeof onDrained !== 'function') throw invalid('onDrained', 'a function', onDrained, fn);
  // null is the default, as drain() takes it.
  for (const name of ['timeout', 'linger'] as const) if (options[name] != null) checkMs(name, options[name], fn);
  for (const s of list) trackConnections(s);
  const drainOptions = options;
  process.once(signal ?? 'SIGTERM', () => {
    stopSignalled = true;
    void Promise.all(list.map((s) => drain(s, drainOptions))).then((reports) => {
      onDrained?.(reports);
      if (exit !== false) process.exit(0);
    });
  });
}
