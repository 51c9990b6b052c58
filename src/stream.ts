import net from 'node:net';
import { describe, type Descriptor, type FifoDescriptor } from './descriptor.js';
import { SocketActivationError } from './errors.js';
import { closeDuplicate, duplicateForNode } from './adopt.js';
import { connectionSocket, isConnection } from './listen.js';
import { activation } from './registry.js';
import { check, checkTarget, listener } from './select.js';

/**
 * Every inherited connected stream socket (systemd Accept=yes, `systemd-socket-activate -a`,
 * a stored connection) not taken yet, whatever its name, as net.Socket objects. Hand them to a
 * server with `server.emit('connection', socket)`. Each fd goes to Node whole, so closing the
 * socket closes the connection. Connections kept in the fd store with
 * {@link keptConnections} are taken (and removed from the store) by that function: call it first.
 */
export function connections(options: { allowHalfOpen?: boolean } = {}): net.Socket[] {
  const a = activation();
  if (!a.activated) return [];
  const sockets: net.Socket[] = [];
  for (const d of a.descriptors) {
    if (!isConnection(d)) continue;
    try {
      sockets.push(connectionSocket(d, options.allowHalfOpen));
    } catch (err) {
      if ((err as SocketActivationError).code !== 'ERR_FD_TAKEN') throw err;
    }
  }
  return sockets;
}

/**
 * One inherited connection (by name or descriptor) as a net.Socket (the fd itself, see {@link connections}).
 * @throws ERR_LISTENER_MISMATCH when it is a listening socket, a datagram socket, …;
 * ERR_FD_TAKEN when an earlier call took it; ERR_INVALID_ARGUMENT for neither a name nor a
 * descriptor (an fd number, say).
 */
export function connection(target: string | Descriptor, options: { allowHalfOpen?: boolean } = {}): net.Socket {
  checkTarget('connection()', target);
  const d = typeof target === 'string' ? listener(target) : target;
  if (!isConnection(d)) {
    // Not check(): "connected" is no Expectation field, and the fix differs from a listener's.
    throw new SocketActivationError(
      'ERR_LISTENER_MISMATCH',
      `connection(): fd ${d.fd}${d.name !== undefined ? ` named ${JSON.stringify(d.name)}` : ''} is a ${describe(d)}${d.kind === 'socket' && !d.listening && d.remote === undefined ? ' with no peer' : ''}; ` +
        'expected a connected stream socket (an Accept=yes instance\'s fd, or systemd-socket-activate --accept). For a listening socket use listen(server, name).',
      { fd: d.fd, listenerName: d.name, expected: { type: 'stream', listening: false, connected: true }, found: d },
    );
  }
  return connectionSocket(d, options.allowHalfOpen);
}

/**
 * An inherited FIFO (systemd ListenFIFO=) as a net.Socket over a pipe handle, so reads are
 * event-driven and never block the loop (an fs stream would use the thread pool).
 * @throws ERR_LISTENER_MISMATCH when the fd is not a FIFO.
 */
export function fifo(target: string | Descriptor, options: { writable?: boolean } = {}): net.Socket {
  const d: FifoDescriptor = typeof target === 'string' ? listener(target, { kind: 'fifo' }) : check(target, { kind: 'fifo' }, 'fifo');
  const fd = duplicateForNode(d);
  try {
    return new net.Socket({ fd, readable: true, writable: options.writable ?? false });
  } catch (err) {
    closeDuplicate(fd);
    throw err;
  }
}
