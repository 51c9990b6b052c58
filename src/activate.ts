import dgram from 'node:dgram';
import net from 'node:net';
import { bindDatagram, type DatagramFallback } from './datagram.js';
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
  const out: Record<string, unknown> = {};
  const done: unknown[] = [];
  try {
    for (const [key, entry] of Object.entries(spec)) {
      const name = entry.name ?? key;
      let value: unknown;
      if ('server' in entry) value = await listen(entry.server, name, { fallback: entry.fallback, backlog: entry.backlog });
      else if ('datagram' in entry) value = await bindDatagram(name, { fallback: entry.fallback, socketOptions: entry.socketOptions });
      else if ('fifo' in entry) value = fifo(name);
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
