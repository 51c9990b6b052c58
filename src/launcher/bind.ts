import { lstatSync, unlinkSync } from 'node:fs';
import { isStaleSocket } from '../unix-path.js';
import { errnoException } from '../errors.js';
import { native } from '../native.js';
import type { LaunchAddress } from './address.js';

/** A socket the launcher made and will pass on. */
export interface BoundSocket {
  readonly fd: number;
  readonly address: LaunchAddress;
  /** dev:ino of the socket file the launcher created, to remove exactly that file at exit. */
  readonly createdFile?: { path: string; dev: number; ino: number };
}

function check(r: number, syscall: string, fd: number, address: LaunchAddress): number {
  if (r < 0) {
    if (fd >= 0) native().close(fd);
    throw errnoException(r, syscall, fd, address.spec);
  }
  return r;
}


/** Creates, binds and (for stream and seqpacket) listens on one address, like a socket unit. */
export async function bindLaunchSocket(address: LaunchAddress, backlog: number): Promise<BoundSocket> {
  const n = native();
  const c = n.constants;
  const type = address.type === 'stream' ? c.SOCK_STREAM : address.type === 'dgram' ? c.SOCK_DGRAM : c.SOCK_SEQPACKET;
  let fd: number;
  let createdFile: BoundSocket['createdFile'];
  if (address.family === 'unix') {
    fd = check(n.socket(c.AF_UNIX, type), 'socket', -1, address);
    const bytes = 'path' in address ? Buffer.from(address.path) : Buffer.concat([Buffer.from([0]), Buffer.from(address.abstract)]);
    let r = n.bindUnix(fd, bytes);
    // Like systemd, replace a socket file left behind by an earlier run, but only when
    // nothing accepts on it and it is a socket.
    if (r < 0 && 'path' in address && (await isStaleSocket(address.path))) {
      unlinkSync(address.path);
      r = n.bindUnix(fd, bytes);
    }
    check(r, 'bind', fd, address);
    if ('path' in address) {
      const st = lstatSync(address.path);
      createdFile = { path: address.path, dev: st.dev, ino: st.ino };
    }
  } else {
    const domain = address.family === 'inet6' ? c.AF_INET6 : c.AF_INET;
    fd = check(n.socket(domain, type), 'socket', -1, address);
    if (address.family === 'inet6') check(n.setIntOption(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, address.dualStack ? 0 : 1), 'setsockopt', fd, address);
    if (type === c.SOCK_STREAM) check(n.setIntOption(fd, c.SOL_SOCKET, c.SO_REUSEADDR, 1), 'setsockopt', fd, address);
    check(n.bindInet(fd, domain, address.host, address.port), 'bind', fd, address);
  }
  if (type !== c.SOCK_DGRAM) check(n.listen(fd, backlog), 'listen', fd, address);
  return createdFile ? { fd, address, createdFile } : { fd, address };
}

/** Closes the launcher's copies and removes socket files it created (if still the same file). */
export function releaseLaunchSockets(sockets: readonly BoundSocket[]): void {
  for (const s of sockets) {
    native().close(s.fd);
    if (!s.createdFile) continue;
    try {
      const st = lstatSync(s.createdFile.path);
      if (st.dev === s.createdFile.dev && st.ino === s.createdFile.ino) unlinkSync(s.createdFile.path);
    } catch {
      // already gone
    }
  }
}
