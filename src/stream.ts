import net from 'node:net';
import { type ConnectionDescriptor, type Descriptor, type FifoDescriptor } from './descriptor.js';
import { closeDuplicate, duplicateForNode } from './adopt.js';
import { connectionSocket } from './listen.js';
import { activation } from './registry.js';
import { check, listener } from './select.js';

/**
 * Every inherited connected stream socket (systemd Accept=yes, `systemd-socket-activate -a`,
 * a stored connection), whatever its name, as net.Socket objects. Hand them to a server with
 * `server.emit('connection', socket)`.
 */
export function connections(options: { allowHalfOpen?: boolean } = {}): net.Socket[] {
  const a = activation();
  if (!a.activated) return [];
  return a.descriptors
    .filter((d): d is ConnectionDescriptor & { name: string } => d.kind === 'socket' && d.type === 'stream' && !d.listening && d.remote !== undefined)
    .map((d) => connectionSocket(d, options.allowHalfOpen));
}

/**
 * One inherited connection (by name or descriptor) as a net.Socket.
 * @throws ERR_LISTENER_MISMATCH when it is a listening socket, a datagram socket, …
 */
export function connection(target: string | Descriptor, options: { allowHalfOpen?: boolean } = {}): net.Socket {
  const expect = { type: 'stream', listening: false } as const;
  const d = typeof target === 'string' ? listener(target, expect) : check(target, expect, 'connection');
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
