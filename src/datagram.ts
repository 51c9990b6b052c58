import dgram from 'node:dgram';
import { describeWithArticle, isUdp, type Descriptor, type DatagramDescriptor } from './descriptor.js';
import { closeDuplicate, duplicateForNode } from './adopt.js';
import { fallbackApplies } from './registry.js';
import { checkTarget, meets, theOne } from './select.js';
import { objectOptions, SocketActivationError } from './errors.js';
import { formatAddress, type InetAddress } from './address.js';
import { datagramFallback, explainFallbackError } from './fallback.js';

/** Where to bind when the process was not socket-activated. A host with `:` makes a udp6 socket. */
export type DatagramFallback = number | { readonly port: number; readonly host?: string };

/** Options for {@link bindDatagram}. */
export interface BindDatagramOptions {
  /** Used only when the process was not socket-activated at all. */
  readonly fallback?: DatagramFallback;
  /** Passed to `dgram.createSocket` (e.g. `recvBufferSize`); `type` is chosen from the fd's real family. */
  readonly socketOptions?: Omit<dgram.SocketOptions, 'type'>;
}

function bound(socket: dgram.Socket, bind: (done: () => void) => void): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    bind(() => {
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}

/**
 * A dgram.Socket on an inherited UDP socket, created as `udp6` when the fd is IPv6
 * (including dual-stack `[::]`) and `udp4` otherwise, so replies work (Node does not check
 * this itself: a udp4 socket on an IPv6 fd receives but cannot send). A connected fd gives a
 * connected socket: `remoteAddress()` names the peer, and `send()` without an address sends to it.
 *
 * @throws (rejects) ERR_NOT_ACTIVATED, ERR_LISTENER_NOT_FOUND, ERR_LISTENER_AMBIGUOUS,
 * ERR_LISTENER_MISMATCH (a stream socket, or a unix datagram socket, which Node cannot adopt; a
 * connected UDP socket on a Node whose dgram internals this package does not know),
 * ERR_INVALID_ARGUMENT (neither a name nor a descriptor: an fd number, say; a fallback that is
 * not a port or `{ port, host? }`, checked even when unused).
 * @example
 * ```ts
 * const socket = await bindDatagram('dns', { fallback: 5353 });
 * socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
 * ```
 */
export async function bindDatagram(target: string | Descriptor, options: BindDatagramOptions | null = {}): Promise<dgram.Socket> {
  checkTarget('bindDatagram()', target);
  options = objectOptions('bindDatagram()', options);
  const fallback = options.fallback === undefined ? undefined : datagramFallback('bindDatagram()', options.fallback);
  if (typeof target === 'string' && fallback !== undefined && fallbackApplies()) {
    const { port, host } = fallback;
    const socket = dgram.createSocket({ ...options.socketOptions, type: host?.includes(':') ? 'udp6' : 'udp4' });
    return bound(socket, (done) => socket.bind({ port, address: host }, done)).catch((err: unknown) => {
      throw explainFallbackError(err, fallback, 'udp');
    });
  }
  const d: DatagramDescriptor =
    typeof target === 'string' ? theOne(target, { type: 'dgram' }, `bindDatagram(${JSON.stringify(target)})`) : meets(target, { type: 'dgram' }, 'bindDatagram');
  // An ICMP ping socket is an inet datagram socket too, on which Node's send() fails with EINVAL.
  if (!isUdp(d)) {
    throw new SocketActivationError(
      'ERR_LISTENER_MISMATCH',
      `bindDatagram: fd ${d.fd}${d.name !== undefined ? ` named ${JSON.stringify(d.name)}` : ''} is ${describeWithArticle(d)} (family ${d.family}, protocol ${d.protocol}); expected UDP (inet or inet6). Node's dgram module can only adopt UDP sockets.`,
      { fd: d.fd, listenerName: d.name, expected: { type: 'dgram', family: ['inet', 'inet6'], protocol: ['udp', 'udplite'] }, found: d },
    );
  }
  const fd = duplicateForNode(d);
  let socket: dgram.Socket;
  try {
    socket = dgram.createSocket({ ...options.socketOptions, type: d.family === 'inet6' ? 'udp6' : 'udp4' });
  } catch (err) {
    closeDuplicate(fd);
    throw err;
  }
  // exclusive: in a cluster worker, bind({ fd }) would otherwise ask the primary to bind the
  // primary's fd of that number, not this process's.
  await bound(socket, (done) => socket.bind({ fd, exclusive: true }, done));
  if (d.remote !== undefined && 'address' in d.remote && 'port' in d.remote) adoptConnected(socket, d, d.remote);
  return socket;
}

// Node's dgram state for a socket connect() connected (lib/internal/dgram.js, Node 12 on).
const CONNECT_STATE_DISCONNECTED = 0;
const CONNECT_STATE_CONNECTED = 2;

// libuv sees that an adopted fd is connected (uv_udp_open asks getpeername) and refuses both
// connect() and a send() with an address (EISCONN); Node's own state says unconnected, so
// remoteAddress() throws and send() without an address is refused before libuv is asked: the
// socket could not send at all. Node has no call to adopt a connected fd as connected, so its
// state is set as its connect() sets it, and checked: a Node whose internals differ gets an
// error naming the fd, not a socket that cannot send.
function adoptConnected(socket: dgram.Socket, d: DatagramDescriptor, peer: InetAddress): void {
  const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === 'state symbol');
  const state = key === undefined ? undefined : (socket as unknown as Record<symbol, { connectState?: unknown } | undefined>)[key];
  if (state?.connectState === CONNECT_STATE_DISCONNECTED) state.connectState = CONNECT_STATE_CONNECTED;
  let seen: { port: number } | undefined;
  try {
    seen = socket.remoteAddress();
  } catch {
    seen = undefined;
  }
  if (seen?.port === peer.port) return;
  socket.close();
  throw new SocketActivationError(
    'ERR_LISTENER_MISMATCH',
    `bindDatagram: fd ${d.fd}${d.name !== undefined ? ` named ${JSON.stringify(d.name)}` : ''} is a UDP socket connected to ${formatAddress(peer)}, and this Node (${process.version}) cannot adopt a connected UDP socket as connected ` +
      `(its dgram module has no call for that; libuv would refuse every send()). Pass an unconnected UDP socket, or use fd ${d.fd} with a native module.`,
    { fd: d.fd, listenerName: d.name, expected: { type: 'dgram', connected: false }, found: d },
  );
}
