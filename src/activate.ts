import dgram from 'node:dgram';
import net from 'node:net';
import { bindDatagram, type DatagramFallback } from './datagram.js';
import { shownValue, SocketActivationError } from './errors.js';
import { listen, type Listening, type StreamFallback, type StreamServer } from './listen.js';
import { activation, type ActivationOptions } from './registry.js';
import { listenersNamed, type Expectation, type Expected } from './select.js';
import { fifo } from './stream.js';

/** Serve a stream listener with this server. */
export interface ServerSpec<S extends StreamServer = StreamServer> {
  readonly server: S;
  readonly fallback?: StreamFallback;
  readonly backlog?: number;
  /** The LISTEN_FDNAMES name, when it differs from the key. */
  readonly name?: string;
}
/** Bind a UDP socket. */
export interface DatagramSpec {
  readonly datagram: true;
  readonly fallback?: DatagramFallback;
  readonly socketOptions?: Omit<dgram.SocketOptions, 'type'>;
  readonly name?: string;
}
/** Open a FIFO as a stream. */
export interface FifoSpec {
  readonly fifo: true;
  readonly name?: string;
}
/** Just the checked descriptors. */
export interface DescriptorSpec<E extends Expectation = Expectation> {
  readonly expect?: E;
  readonly name?: string;
}

/** One entry of {@link activate}'s spec. */
export type ListenerSpec = ServerSpec | DatagramSpec | FifoSpec | DescriptorSpec;

/** The result of {@link activate}: each key's type follows its spec. */
export type Activated<T extends Record<string, ListenerSpec>> = {
  [K in keyof T]: T[K] extends ServerSpec<infer S>
    ? Listening<S>
    : T[K] extends DatagramSpec
      ? dgram.Socket
      : T[K] extends FifoSpec
        ? net.Socket
        : T[K] extends DescriptorSpec<infer E>
          ? readonly Expected<E>[]
          : never;
};

// The keys of each kind of entry. The kind is read from the keys, so a misspelt one (`sever`)
// would silently make another kind of entry: unknown keys are refused.
const ENTRY_KEYS = {
  server: ['server', 'fallback', 'backlog', 'name'],
  datagram: ['datagram', 'fallback', 'socketOptions', 'name'],
  fifo: ['fifo', 'name'],
  descriptors: ['expect', 'name'],
} as const;
const ENTRY_SHAPES = '{ server, fallback?, backlog?, name? }, { datagram: true, fallback?, socketOptions?, name? }, { fifo: true, name? } or { expect?, name? }';

function badSpec(argument: string, found: unknown, why: string): SocketActivationError {
  return new SocketActivationError('ERR_INVALID_ARGUMENT', `activate(): ${why}.`, { argument, expected: ENTRY_SHAPES, found });
}

function entryKind(key: string, entry: unknown): keyof typeof ENTRY_KEYS {
  const at = `spec.${key}`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw badSpec(at, entry, `${at} must be one of ${ENTRY_SHAPES}; found ${shownValue(entry)}`);
  const kind = 'server' in entry ? 'server' : 'datagram' in entry ? 'datagram' : 'fifo' in entry ? 'fifo' : 'descriptors';
  if ((kind === 'datagram' || kind === 'fifo') && (entry as Record<string, unknown>)[kind] !== true) {
    throw badSpec(at, entry, `${at}.${kind} must be true; found ${shownValue((entry as Record<string, unknown>)[kind])}`);
  }
  const known: readonly string[] = ENTRY_KEYS[kind];
  const unknown = Object.keys(entry).find((k) => !known.includes(k));
  if (unknown !== undefined) {
    const what = kind === 'descriptors' ? 'an entry without server, datagram or fifo (the checked descriptors)' : `a ${kind} entry`;
    throw badSpec(at, entry, `${at} has the key ${JSON.stringify(unknown)}, which ${what} does not take; it takes ${known.join(', ')}`);
  }
  return kind;
}

// A net.Socket has a `server` property too (null for a FIFO stream): test the classes first.
function closeAll(done: unknown[]): void {
  for (const item of done) {
    if (item instanceof net.Socket) item.destroy();
    else if (item instanceof dgram.Socket) item.close();
    else if (item && typeof item === 'object' && 'server' in item) (item as Listening<StreamServer>).server.close();
  }
}

/**
 * Sets up every named listener of a service in one call; the result has one entry per key,
 * typed after its spec (a server spec gives `Listening<Server>`, `datagram: true` gives a
 * dgram.Socket, `fifo: true` a net.Socket, otherwise the checked descriptors). If one entry
 * fails, the ones already set up are closed again before the error is thrown.
 *
 * @throws (rejects) ERR_INVALID_ARGUMENT, before anything is set up, for a spec that is not an
 * object, an entry that is not one of the four shapes, or an entry with a key its shape does not
 * take (the shape is read from the keys, so a misspelt `sever` would otherwise make an entry of
 * checked descriptors); then the errors of listen(), bindDatagram(), fifo() and listenersNamed().
 *
 * @example
 * ```ts
 * const { web, dns } = await activate({
 *   web: { server: http.createServer(app), fallback: 8080 },
 *   dns: { datagram: true, fallback: 5353 },
 * });
 * ```
 */
export async function activate<const T extends Record<string, ListenerSpec>>(spec: T, options?: ActivationOptions): Promise<Activated<T>> {
  activation(options);
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw badSpec('spec', spec, `the spec must be an object with one entry per listener ({ web: { server }, … }); found ${shownValue(spec)}`);
  }
  // All checked before anything is set up: nothing to close again for a bad entry.
  const entries = Object.entries(spec).map(([key, entry]) => [key, entry, entryKind(key, entry)] as const);
  const out: Record<string, unknown> = {};
  const done: unknown[] = [];
  try {
    for (const [key, entry, kind] of entries) {
      const name = entry.name ?? key;
      let value: unknown;
      if (kind === 'server') value = await listen((entry as ServerSpec).server, name, { fallback: (entry as ServerSpec).fallback, backlog: (entry as ServerSpec).backlog });
      else if (kind === 'datagram') value = await bindDatagram(name, { fallback: (entry as DatagramSpec).fallback, socketOptions: (entry as DatagramSpec).socketOptions });
      else if (kind === 'fifo') value = fifo(name);
      else value = listenersNamed(name, (entry as DescriptorSpec).expect);
      out[key] = value;
      done.push(value);
    }
  } catch (err) {
    closeAll(done);
    throw err;
  }
  return out as Activated<T>;
}
