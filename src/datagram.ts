import dgram from 'node:dgram';
import { describeWithArticle, isUdp, type Descriptor, type DatagramDescriptor } from './descriptor.js';
import { closeDuplicate, duplicateForNode } from './adopt.js';
import { fallbackApplies } from './registry.js';
import { checkTarget, meets, theOne } from './select.js';
import { SocketActivationError } from './errors.js';
import { datagramFallback } from './fallback.js';

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
 * this itself: a udp4 socket on an IPv6 fd receives but cannot send).
 *
 * @throws (rejects) ERR_NOT_ACTIVATED, ERR_LISTENER_NOT_FOUND, ERR_LISTENER_AMBIGUOUS,
 * ERR_LISTENER_MISMATCH (a stream socket, or a unix datagram socket, which Node cannot adopt),
 * ERR_INVALID_ARGUMENT (neither a name nor a descriptor: an fd number, say; a fallback that is
 * not a port or `{ port, host? }`, checked even when unused).
 * @example
 * ```ts
 * const socket = await bindDatagram('dns', { fallback: 5353 });
 * socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
 * ```
 */
export async function bindDatagram(target: string | Descriptor, options: BindDatagramOptions = {}): Promise<dgram.Socket> {
  checkTarget('bindDatagram()', target);
  const fallback = options.fallback === undefined ? undefined : datagramFallback('bindDatagram()', options.fallback);
  if (typeof target === 'string' && fallback !== undefined && fallbackApplies()) {
    const { port, host } = fallback;
    const socket = dgram.createSocket({ ...options.socketOptions, type: host?.includes(':') ? 'udp6' : 'udp4' });
    return bound(socket, (done) => socket.bind({ port, address: host }, done));
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
  return bound(socket, (done) => socket.bind({ fd }, done));
}
