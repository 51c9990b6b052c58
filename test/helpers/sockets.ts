// Real sockets made in the test process with the package's own native calls, so their fds
// can be placed at 3.. in a child. Everything made here is closed by closeAll().
import { native } from '../../src/native.js';
import { inspect } from '../../src/descriptor.js';

const open: number[] = [];

function ok(r: number, what: string): number {
  if (r < 0) throw new Error(`${what} failed: errno ${-r}`);
  return r;
}

export interface MadeSocket {
  fd: number;
  port: number;
}

/** A socket of `type` bound to host:port (0 = any free port); stream sockets listen. */
export function inetSocket(options: { host?: string; type?: 'stream' | 'dgram'; backlog?: number; protocol?: number; v6only?: boolean } = {}): MadeSocket {
  const n = native();
  const c = n.constants;
  const host = options.host ?? '127.0.0.1';
  const domain = host.includes(':') ? c.AF_INET6 : c.AF_INET;
  const type = options.type === 'dgram' ? c.SOCK_DGRAM : c.SOCK_STREAM;
  const fd = ok(n.socket(domain, type, options.protocol ?? 0), 'socket');
  open.push(fd);
  if (domain === c.AF_INET6 && options.v6only !== undefined) ok(n.setIntOption(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, options.v6only ? 1 : 0), 'setsockopt');
  ok(n.bindInet(fd, domain, host, 0), 'bind');
  if (type === c.SOCK_STREAM) ok(n.listen(fd, options.backlog ?? 16), 'listen');
  const local = (inspect(fd) as { local: { port: number } }).local;
  return { fd, port: local.port };
}

/** A unix socket bound to a path or (leading NUL) an abstract name, listening unless dgram. */
export function unixSocket(name: string | Buffer, type: 'stream' | 'dgram' | 'seqpacket' = 'stream'): number {
  const n = native();
  const c = n.constants;
  const t = type === 'stream' ? c.SOCK_STREAM : type === 'dgram' ? c.SOCK_DGRAM : c.SOCK_SEQPACKET;
  const fd = ok(n.socket(c.AF_UNIX, t), 'socket');
  open.push(fd);
  ok(n.bindUnix(fd, typeof name === 'string' ? Buffer.from(name) : name), 'bind');
  if (type !== 'dgram') ok(n.listen(fd, 16), 'listen');
  return fd;
}

/** An unbound socket (e.g. unnamed unix, or udplite/mptcp by protocol number). */
export function bareSocket(domain: 'unix' | 'inet', type: 'stream' | 'dgram', protocol = 0): number {
  const n = native();
  const c = n.constants;
  const fd = ok(n.socket(domain === 'unix' ? c.AF_UNIX : c.AF_INET, type === 'stream' ? c.SOCK_STREAM : c.SOCK_DGRAM, protocol), 'socket');
  open.push(fd);
  return fd;
}

/** Closes one socket this helper made. */
export function closeSocket(fd: number): void {
  const i = open.indexOf(fd);
  if (i >= 0) open.splice(i, 1);
  native().close(fd);
}

/** Closes every socket this helper made. */
export function closeAll(): void {
  for (const fd of open.splice(0)) native().close(fd);
}
