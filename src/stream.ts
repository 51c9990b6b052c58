import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describeWithArticle, type Descriptor, type FifoDescriptor } from './descriptor.js';
import { objectOptions, SocketActivationError } from './errors.js';
import { closeDuplicate, connectionSocket, duplicateForNode } from './adopt.js';
import { activation } from './registry.js';
import { checkTarget, instanceConnections, isConnection, label, listener, meets, otherwise, theOne } from './select.js';

/**
 * Every inherited connected stream socket (systemd Accept=yes, `systemd-socket-activate -a`,
 * a stored connection) not taken yet, whatever its name, as net.Socket objects. Hand them to a
 * server with `server.emit('connection', socket)`. Each fd goes to Node whole, so closing the
 * socket closes the connection. Connections kept in the fd store with
 * {@link keptConnections} are taken (and removed from the store) by that function: call it first.
 */
export function connections(options: { allowHalfOpen?: boolean } | null = {}): net.Socket[] {
  options = objectOptions('connections()', options);
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

// As listen(): in an Accept=yes instance the listener's name asks for the connection.
function connectionNamed(name: string): Descriptor {
  const instance = instanceConnections(name);
  if (instance === undefined) return listener(name);
  if (instance.length > 1) {
    throw new SocketActivationError(
      'ERR_LISTENER_AMBIGUOUS',
      `No inherited fd is named ${JSON.stringify(name)}, and the ${instance.length} inherited fds are all connections (${instance.map(label).join('; ')}). ` +
        'Take them all with connections(), or one by one: pass each descriptor of listeners() to connection().',
      { listenerName: name, found: instance.map((d) => d.fd) },
    );
  }
  return instance[0]!;
}

/**
 * One inherited connection (by name or descriptor) as a net.Socket (the fd itself, see
 * {@link connections}). An Accept=yes instance, which inherits nothing but its connection
 * (systemd names it "connection"), has it taken whatever name is asked for, as by `listen()`.
 * @throws ERR_LISTENER_MISMATCH when it is a listening socket, a datagram socket, …;
 * ERR_LISTENER_NOT_FOUND, ERR_LISTENER_AMBIGUOUS (several fds of that name, or an instance's
 * several connections); ERR_FD_TAKEN when an earlier call took it; ERR_INVALID_ARGUMENT for
 * neither a name nor a descriptor (an fd number, say).
 */
export function connection(target: string | Descriptor, options: { allowHalfOpen?: boolean } | null = {}): net.Socket {
  checkTarget('connection()', target);
  options = objectOptions('connection()', options);
  const d = typeof target === 'string' ? connectionNamed(target) : target;
  if (!isConnection(d)) {
    // Not check(): "connected" is no Expectation field, and the fix differs from a listener's.
    const instead = otherwise(d);
    throw new SocketActivationError(
      'ERR_LISTENER_MISMATCH',
      `connection(): fd ${d.fd}${d.name !== undefined ? ` named ${JSON.stringify(d.name)}` : ''} is ${describeWithArticle(d)}${d.kind === 'socket' && d.type === 'stream' && !d.listening && d.remote === undefined ? ' with no peer' : ''}; ` +
        `expected a connected stream socket (an Accept=yes instance's fd, or systemd-socket-activate --accept).${instead ? ` ${instead}.` : ''}`,
      { fd: d.fd, listenerName: d.name, expected: { type: 'stream', listening: false, connected: true }, found: d },
    );
  }
  return connectionSocket(d, options.allowHalfOpen);
}

// The open file's access mode is no descriptor field; Linux shows it in fdinfo (octal flags).
function accessMode(fd: number): 'read-only' | 'write-only' | 'read-write' | undefined {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
    return flags === undefined ? undefined : (['read-only', 'write-only', 'read-write'] as const)[Number.parseInt(flags, 8) & 3];
  } catch {
    return undefined; // no procfs (macOS): Node reports a wrong direction when it is used
  }
}

/**
 * An inherited FIFO (systemd ListenFIFO=, which opens it read-write) as a net.Socket over a
 * pipe handle, so reads are event-driven and never block the loop (an fs stream would use the
 * thread pool). Readable unless the fd was opened write-only; writable with `writable: true`.
 * @throws ERR_LISTENER_MISMATCH when the fd is not a FIFO, or (Linux) was opened write-only
 * without `writable: true` or read-only with it; ERR_INVALID_ARGUMENT for neither a
 * name nor a descriptor (an fd number, say).
 */
export function fifo(target: string | Descriptor, options: { writable?: boolean } | null = {}): net.Socket {
  checkTarget('fifo()', target);
  options = objectOptions('fifo()', options);
  const d: FifoDescriptor = typeof target === 'string' ? theOne(target, { kind: 'fifo' }, `fifo(${JSON.stringify(target)})`) : meets(target, { kind: 'fifo' }, 'fifo');
  const writable = options.writable ?? false;
  const mode = accessMode(d.fd);
  if ((mode === 'write-only' && !writable) || (mode === 'read-only' && writable)) {
    throw new SocketActivationError(
      'ERR_LISTENER_MISMATCH',
      `fifo(): fd ${d.fd}${d.name !== undefined ? ` named ${JSON.stringify(d.name)}` : ''} is a FIFO opened ${mode}; expected it ${writable ? 'writable' : 'readable'}. ` +
        (writable ? 'Call fifo() without writable: true to read from it' : 'Pass { writable: true } to write to it') + ', or open it the other way where it is passed.',
      { fd: d.fd, listenerName: d.name, expected: { kind: 'fifo', access: writable ? 'writable' : 'readable' }, found: d },
    );
  }
  const fd = duplicateForNode(d);
  try {
    return new net.Socket({ fd, readable: mode !== 'write-only', writable });
  } catch (err) {
    closeDuplicate(fd);
    throw err;
  }
}
