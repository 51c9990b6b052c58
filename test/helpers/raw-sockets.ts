// Raw sockets for tests, made with the package's own native functions (src/native.ts):
// plain fds this process can place at 3, 4, … in an activated child, with any type,
// family, backlog or IPV6_V6ONLY setting (Node itself cannot make unix datagram or
// seqpacket sockets, or a listener with a chosen backlog outside a libuv handle).
import dgram from 'node:dgram';
import net from 'node:net';
import { inspect } from '../../src/descriptor.js';
import { native } from '../../src/native.js';

export type SocketSpec =
  | { family: 'inet' | 'inet6'; type?: 'stream' | 'dgram'; host: string; port?: number; v6only?: boolean; backlog?: number | false }
  | { family: 'unix'; type?: 'stream' | 'dgram' | 'seqpacket'; path: string; backlog?: number | false }
  | { family: 'unix'; type?: 'stream' | 'dgram' | 'seqpacket'; abstract: string; backlog?: number | false };

export interface RawSocket {
  readonly fd: number;
  /** The bound port (inet/inet6). */
  readonly port: number;
  close(): void;
}

const open = new Set<number>();

function ok(r: number, what: string): number {
  if (r < 0) throw new Error(`${what} failed: errno ${-r}`);
  return r;
}

/**
 * socket() + bind() (+ listen() for stream and seqpacket unless `backlog: false`).
 * Stream sockets listen with `backlog` (default 128).
 */
export function makeSocket(spec: SocketSpec): RawSocket {
  const n = native();
  const c = n.constants;
  const typeName = spec.type ?? 'stream';
  const type = typeName === 'stream' ? c.SOCK_STREAM : typeName === 'dgram' ? c.SOCK_DGRAM : c.SOCK_SEQPACKET;
  const domain = spec.family === 'inet' ? c.AF_INET : spec.family === 'inet6' ? c.AF_INET6 : c.AF_UNIX;
  const fd = ok(n.socket(domain, type), 'socket');
  open.add(fd);
  try {
    if (spec.family === 'unix') {
      const bytes = 'path' in spec ? Buffer.from(spec.path) : Buffer.concat([Buffer.from([0]), Buffer.from(spec.abstract)]);
      ok(n.bindUnix(fd, bytes), 'bind');
    } else {
      if (spec.family === 'inet6') ok(n.setIntOption(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, spec.v6only === false ? 0 : 1), 'setsockopt IPV6_V6ONLY');
      ok(n.bindInet(fd, domain, spec.host, spec.port ?? 0), `bind ${spec.host}:${spec.port ?? 0}`);
    }
    if (typeName !== 'dgram' && spec.backlog !== false) ok(n.listen(fd, spec.backlog ?? 128), 'listen');
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  const d = inspect(fd);
  const port = d.kind === 'socket' && 'port' in d.local ? d.local.port : 0;
  return { fd, port, close: () => closeFd(fd) };
}

export function closeFd(fd: number): void {
  if (open.delete(fd)) native().close(fd);
}

/** Closes every fd made by {@link makeSocket} and not closed yet. */
export function closeAllSockets(): void {
  for (const fd of [...open]) closeFd(fd);
}

/** A port that was free a moment ago on `host` (for tools that need a number up front). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A UDP port that was free a moment ago on `host`. */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port: 0, exclusive: true }, resolve);
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
